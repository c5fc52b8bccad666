"""Model weights: downloads from the Hugging Face Hub (pinned, hashed), folder digests, safe checkpoint loading."""
