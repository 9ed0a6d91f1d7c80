"""The runner: bring a lab up, apply its files, run its commands, judge, tear down.

``run_plan(plan, provider)`` (in ``execute``) takes a ``steps.model.LabPlan`` and returns a
``verdict.results.PlanResult``.
"""
