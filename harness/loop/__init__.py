"""The while-true runner: one iteration's steps (sync, pick and claim, session, fast sample,
submit), the agent session, integrating with upstream, the prompt and the events file.
May import the layers below it: git/, locks/, tasks/, testing/, gate/, agents/, runtime/."""
