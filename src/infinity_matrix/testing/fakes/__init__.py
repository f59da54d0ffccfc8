"""Local fake provider servers that speak each wire API (OpenAI, Gemini API / Vertex AI,
Anthropic), record every request and answer scripted faults. Tests point the real SDKs at them;
``imx provider demo`` serves them as a clearly labelled demo provider."""
