"""Running: sessions, outputs, predictions, the canonical weights and backend parity."""
