"""Distribution only: sizing an actor pool on a Ray cluster, handing out work items from a
queue with retries and actor replacement, and naming workers. It knows nothing of the method."""
