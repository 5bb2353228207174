# Everything is installed from package registries into .venv in the repository root.
PY     := .venv/bin/python
PIP    := .venv/bin/pip
STEGO  := .venv/bin/deepstego
DEMO   := out/demo

.PHONY: install install-dev browser demo test bench clean

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
	# --no-warn-conflicts: pip would otherwise report sealwatch's unmet torchvision/h5py/jpeglib requirement
	# (installed --no-deps above on purpose) as an ERROR, though nothing is wrong with this install
	$(PIP) install -q --no-warn-conflicts -e '.[dev]'
	touch $@

# the app's browser test drives Debian's Chromium; installed here when apt-get can (as root), else the test is
# skipped and pytest's summary (-rs) says why
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	  else \
	    echo "note: chromium is not installed and cannot be installed here (needs root and apt-get): the browser test will be skipped"; \
	  fi; }

install: .venv/.base

install-dev: .venv/.dev

demo: install
	@mkdir -p $(DEMO)
	$(STEGO) hide examples/cover.png examples/secret.png -o $(DEMO)/stego.png --overwrite
	$(STEGO) reveal $(DEMO)/stego.png -o $(DEMO)/revealed.png --size 600x400 --overwrite
	$(STEGO) compare examples/cover.png $(DEMO)/stego.png --label "cover vs stego"
	$(STEGO) compare examples/secret.png $(DEMO)/revealed.png --label "secret vs revealed"
	@echo "demo outputs: $(DEMO)/stego.png (cover with the secret inside), $(DEMO)/revealed.png (secret recovered from the saved PNG)"

test: install-dev browser
	$(PY) -m pytest -q -rs

bench: install
	$(STEGO) bench --json results/bench.json > results/bench.txt && cat results/bench.txt
	$(STEGO) bench --ratio --json results/ratio.json > results/ratio.txt && cat results/ratio.txt

clean:
	rm -rf .venv out .pytest_cache
