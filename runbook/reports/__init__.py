"""What the record reads as for people: the change record (Markdown, HTML), the back-out plan, text views."""
