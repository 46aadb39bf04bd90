"""Answer: from retrieved passages to a checked answer.

The prompt, the question's intent, injection marking, the support judge, citation assembly,
reported figures (accounts) and the latest-report timeline, and answer highlighting.
"""
