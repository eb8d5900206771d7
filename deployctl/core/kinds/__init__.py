"""What the app kinds name and accept: artifact names, AWS names and AWS limits."""
