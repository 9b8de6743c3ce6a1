"""The local ECR registry front: ``<account>.dkr.ecr.<region>.amazonaws.com`` over one docker-registry.

See ``docs/ecr-front.md`` for the ECR behaviours it reproduces. ``contracts`` holds what it is
given (authorizer, token validator, repository catalog).
"""
