"""The staff dashboard inside the admin: live figures over a Channels group, history charts from LLMCall rows."""
