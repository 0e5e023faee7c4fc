# tests/tpm
