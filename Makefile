# gtv-book: `make book` executes every chapter and renders the book; `make test` runs the tests.
# Both create the virtual environment in .venv when it is missing or out of date.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?= quick
PIP     := $(BIN)/python -m pip --disable-pip-version-check
NNUNET_CHECK := nnunetv2 batchgenerators acvl_utils blosc2 ndindex msgpack numexpr connected-components-3d \
                scikit-image imageio lazy-loader tifffile nibabel

# The environment's own kernel spec must win over one a user may have installed elsewhere.
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup book run build test test-fast test-integration test-book lab lint clean constraints dicom3tools

setup: $(VENV)/.installed

# torch first, alone: on CPU machines `torch==2.13.0` is a CPU build; everything else is then
# installed with that torch present, so no second (CUDA) torch is ever downloaded.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -c constraints.txt -e ".[book,test]"
	# rt-utils (test-only cross-check of RTSTRUCT rasterisation) requires opencv-python, which needs a
	# display library; opencv-python-headless (in the test extra) provides the same cv2 module.
	$(PIP) install --quiet --no-deps -c constraints.txt rt-utils
	# nnunetv2 (test-only: its dataset-integrity check of gtvlib's export) requires timm and so torchvision and a
	# CUDA torch; the check needs none of them: nnunetv2 and the modules its verification imports, without deps.
	$(PIP) install --quiet --no-deps -c constraints.txt $(NNUNET_CHECK)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (gtv-book)" >/dev/null
	@$(MAKE) --no-print-directory dicom3tools
	@touch $@

# dciodvfy (Debian's dicom3tools) verifies what gtvlib writes against the DICOM standard (tests/test_conformance.py,
# gtvlib.data.dicom.conformance). Unpacked from the Debian package into $(BIN) (no system install needed); where
# Debian's packages cannot be reached, a warning, and the conformance tests are skipped with that reason.
dicom3tools:
	@if command -v dciodvfy >/dev/null 2>&1 || test -x $(BIN)/dciodvfy; then exit 0; fi; \
	tmp=$$(mktemp -d); \
	if (cd $$tmp && (apt-get download dicom3tools >/dev/null 2>&1 || \
	      (apt-get update -qq >/dev/null 2>&1 && apt-get download dicom3tools >/dev/null 2>&1)) && \
	    dpkg-deb -x dicom3tools_*.deb root); then \
	  cp $$tmp/root/usr/bin/dciodvfy $(BIN)/dciodvfy && echo "dciodvfy unpacked into $(BIN)"; \
	else echo "warning: Debian's dicom3tools could not be downloaded; DICOM conformance tests will be skipped"; fi; \
	rm -rf $$tmp

book: setup
	$(BIN)/python -m gtvlib.book run --profile $(PROFILE); status=$$?; \
	$(BIN)/python -m gtvlib.book build && exit $$status

run: setup
	$(BIN)/python -m gtvlib.book run --profile $(PROFILE)

build: setup
	$(BIN)/python -m gtvlib.book build

test: setup
	$(BIN)/python -m pytest

# The three tiers (tests/unit, tests/integration, tests/book; markers slow and book), each alone. `make test` runs all
# three; its book tier reuses the executed copies of a `make book` of the same commit, profile and cache.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not book" tests/unit

test-integration: setup
	$(BIN)/python -m pytest tests/integration

test-book: setup
	$(BIN)/python -m pytest tests/book

# JupyterLab on the chapters, with the environment's kernel ("Python 3 (gtv-book)").
lab: setup
	$(BIN)/jupyter lab notebooks/

# Re-pin constraints.txt from the current environment (after changing pyproject.toml).
constraints: setup
	$(PIP) freeze --exclude-editable | grep -v -i '^gtvlib' | sed 's/^torch==.*/torch==2.13.0/' > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt

clean:
	rm -rf _build .pytest_cache
