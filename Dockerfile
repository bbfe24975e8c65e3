# One livecart node. Dependencies come from the hashed lock (requirements/run.lock), the
# same one `make run` installs; the source tree is removed after the install, so the image
# holds one importable livecart, in site-packages.
FROM python:3.11-slim
WORKDIR /src
COPY requirements/run.lock requirements/run.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/run.lock
COPY pyproject.toml README.md LICENSE ./
COPY livecart livecart
COPY chat chat
COPY checkout checkout
COPY streamer streamer
COPY web web
COPY loadtest loadtest
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && rm -rf /src
WORKDIR /app
VOLUME /app/data
EXPOSE 8080
CMD ["livecart", "serve", "--host", "0.0.0.0", "--port", "8080"]
