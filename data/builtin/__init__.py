"""The built-in problem pool: seeded generators in 10 domains x 4 levels (`pool.build_pool`)."""
