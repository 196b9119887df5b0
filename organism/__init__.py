"""The model organism: a tiny Llama-style chat model trained from scratch, or a fine-tune."""
