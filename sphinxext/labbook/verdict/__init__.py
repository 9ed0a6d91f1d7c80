"""The verdict: matching what ran against the page, the typed results, and accept mode."""
