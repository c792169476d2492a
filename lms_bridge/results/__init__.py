"""From votes and submissions to decisions: the ballot audit trail, the tally, the write-back."""
