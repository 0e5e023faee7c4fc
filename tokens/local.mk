# tokens
