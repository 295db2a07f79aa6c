"""The Cosmos DB protocol server the store tests run against."""
