# migration
