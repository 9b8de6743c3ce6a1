"""The local twin's IAM: policy evaluation, the stack's roles, per-role credentials and tokens,
and the enforcement of both on moto's control planes and on the ECR registry fronts.

See docs/local-twin.md for what is evaluated and what is not.
"""
