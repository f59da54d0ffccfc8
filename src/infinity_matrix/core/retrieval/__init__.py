"""Retrieval ("learning transfer"): the most useful context, insights and facts for a task,
ranked by relevance, confidence and recency multiplied and packed into a token budget."""
