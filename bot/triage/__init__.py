"""Triage: turn an incident into a category, severity and proposals (a model or offline rules).

    offline.py     RulesTriager: the offline rules engine behind the Triager port (no model)
    llm.py         LLMTriager: prompt -> ChatGateway -> validation -> retry -> fallback
    gateway.py     the ChatGateway adapter on the ``openai`` SDK
    rules.py       the rules engine (keywords.yaml), pure
    validation.py  the model's reply checked against prompts/triage.schema.json, pure
    prompts.py, context.py, output.py, usage.py   prompt assembly, context, scrubbing, tokens

The package imports nothing itself, so the pure modules can be used without the SDK. The port
is ``bot.ports.Triager``; the composition root builds the configured one.
"""
