"""Authorization: who may see and change which citizen's passport, break-the-glass, and the audit of it."""
