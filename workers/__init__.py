"""Background jobs: the broker, the job core (registry, context, tracking, enqueue,
recovery) and one module per job family."""
