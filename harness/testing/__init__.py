"""Running the project's tests for agents: runners, result parsing, sampling, output."""
