"""The answer step: any VLM answers the augmented shards under the paper's methods."""
