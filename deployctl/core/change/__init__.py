"""What a change does: the changed files, the plan and its order, the base it is judged against, the pull
request as data, and the safeguards (rules/)."""
