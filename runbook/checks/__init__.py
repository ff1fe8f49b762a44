"""The troubleshooting checks an operator runs before and after a change: who we act as, the user certificate, KCD."""
