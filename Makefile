# Everything is installed from package registries into .venv in the repository root.
PY     := .venv/bin/python
PIP    := .venv/bin/pip
STEGO  := .venv/bin/deepstego
DEMO   := out/demo

.PHONY: install install-dev demo test bench clean

.venv/.base: pyproject.toml
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	# pinned CPU build of torch first, so no other requirement can pull a CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[eval]'
	# sealwatch's chi-square and SPA attacks; --no-deps because its metadata requires torchvision (a CUDA build
	# here), which the two attack modules deepstego loads do not use (see steganalysis/classical.py)
	$(PIP) install -q --no-deps sealwatch==2025.9
	touch $@

.venv/.dev: .venv/.base
	$(PIP) install -q -e '.[dev]'
	touch $@

install: .venv/.base

install-dev: .venv/.dev

demo: install
	@mkdir -p $(DEMO)
	$(STEGO) hide examples/cover.png examples/secret.png -o $(DEMO)/stego.png --overwrite
	$(STEGO) reveal $(DEMO)/stego.png -o $(DEMO)/revealed.png --size 600x400 --overwrite
	$(STEGO) compare examples/cover.png $(DEMO)/stego.png --label "cover vs stego"
	$(STEGO) compare examples/secret.png $(DEMO)/revealed.png --label "secret vs revealed"
	@echo "demo outputs: $(DEMO)/stego.png (cover with the secret inside), $(DEMO)/revealed.png (secret recovered from the saved PNG)"

test: install-dev
	$(PY) -m pytest -q

bench: install
	$(STEGO) bench --json results/bench.json

clean:
	rm -rf .venv out .pytest_cache
