# jira-auth-agent — the two commands of the quick start are `make demo` and `make test`.
SHELL := /bin/bash
PREFIX ?= /usr/local
SWIFT ?= swift

.PHONY: all deps build release test demo bench install uninstall man clean

all: build

deps:
	scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	scripts/build-release.sh

# The whole suite against the real stack: keyring situations, the stack's smoke tests,
# then every Swift test with gnome-keyring, the authorization server, the Jira stand-in
# and headless Chromium running.
test: deps
	scripts/test.sh

demo: deps
	scripts/demo.sh

bench: deps
	scripts/bench.sh

# The reference part of the man page generated from the command definitions
# (swift-argument-parser's plugin) into .build/man/. The shipped page,
# share/man/man1/jira-auth-agent.1, adds FILES, ENVIRONMENT, EXIT STATUS and EXAMPLES;
# the test suite checks that it documents every command and option (ManualTests).
man: deps
	mkdir -p .build/man
	$(SWIFT) package --allow-writing-to-directory .build/man generate-manual --output-directory .build/man

install: release
	install -Dm755 .build-release/release/jira-auth-agent $(DESTDIR)$(PREFIX)/bin/jira-auth-agent
	install -Dm755 .build-release/release/jira-auth-agent-full $(DESTDIR)$(PREFIX)/libexec/jira-auth-agent/jira-auth-agent-full
	install -Dm644 share/man/man1/jira-auth-agent.1 $(DESTDIR)$(PREFIX)/share/man/man1/jira-auth-agent.1
	install -Dm644 share/man/man5/connections.toml.5 $(DESTDIR)$(PREFIX)/share/man/man5/connections.toml.5
	install -Dm644 share/jira-auth-agent/connections.example.toml $(DESTDIR)$(PREFIX)/share/jira-auth-agent/connections.example.toml
	install -Dm644 share/systemd/user/jira-auth-agent.service $(DESTDIR)$(PREFIX)/lib/systemd/user/jira-auth-agent.service
	sed -i 's#@BINDIR@#$(PREFIX)/bin#' $(DESTDIR)$(PREFIX)/lib/systemd/user/jira-auth-agent.service
	install -Dm644 share/completions/jira-auth-agent.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/jira-auth-agent
	install -Dm644 share/examples/jira-board.py $(DESTDIR)$(PREFIX)/share/doc/jira-auth-agent/examples/jira-board.py

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/jira-auth-agent $(DESTDIR)$(PREFIX)/share/man/man1/jira-auth-agent.1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5/connections.toml.5 \
	  $(DESTDIR)$(PREFIX)/libexec/jira-auth-agent/jira-auth-agent-full \
	  $(DESTDIR)$(PREFIX)/lib/systemd/user/jira-auth-agent.service \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/jira-auth-agent
	rm -rf $(DESTDIR)$(PREFIX)/share/jira-auth-agent $(DESTDIR)$(PREFIX)/share/doc/jira-auth-agent

clean:
	rm -rf .build .build-release .run
