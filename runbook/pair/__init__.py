"""Two people on one session: the lock's follower view (watch), handover, two-person confirmation."""
