"""Linear algebra and statistics: certified batched Lanczos, rank correlation, log–log fits."""
