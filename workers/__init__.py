"""dramatiq workers of the pipeline: thin actors over :mod:`claims_engine.services`.

``workers.actors`` declares the actors on the broker :func:`workers.broker.broker_from_env`
picks (Redis at ``CLAIMS_REDIS_URL``, else dramatiq's in-process StubBroker), so importing it
is what binds them: set the environment first.
"""
