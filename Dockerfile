FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY livecart livecart
COPY chat chat
COPY checkout checkout
COPY streamer streamer
COPY web web
COPY loadtest loadtest
RUN pip install --no-cache-dir .
EXPOSE 8080
CMD ["livecart", "serve", "--host", "0.0.0.0", "--port", "8080"]
