# Ferry — see README.md for what each target does.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIGURATION ?= Release
RESULTS := $(CURDIR)/artifacts/test-results

.PHONY: all setup build test demo bench run deploy crd emulator clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(DOTNET) build Operator.sln -c $(CONFIGURATION) -nologo -clp:NoSummary

## Every test of every project; ends with the line `N passed, M failed, K skipped`.
test: build
	@rm -rf $(RESULTS)
	@set +e; $(DOTNET) test Operator.sln -c $(CONFIGURATION) --no-build -nologo \
	  --logger "trx" --logger "console;verbosity=minimal" --results-directory $(RESULTS); \
	  status=$$?; scripts/test-summary.sh $(RESULTS); summary=$$?; \
	  [ $$status -eq 0 ] && [ $$summary -eq 0 ]

clean:
	rm -rf artifacts .work
	$(DOTNET) clean Operator.sln -nologo -v q
