"""What people read: the PR comment and its template, the status page and matrix, CODEOWNERS."""
