"""The write side of talksearch: sources → audio → transcript → passages → embeddings → library."""
