"""The behaviour-mode classifier every stage uses (rules, learned layer, LLM judge) and the
classify stage (``classify_stage``)."""
