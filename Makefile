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
	$(SWIFT) build -c release --scratch-path .build-release -Xswiftc -static-stdlib

# The whole suite against the real stack: keyring situations, the stack's smoke tests,
# then every Swift test with gnome-keyring, the authorization server, the Jira stand-in
# and headless Chromium running.
test: deps
	scripts/test.sh

demo: deps
	scripts/demo.sh

bench: deps
	scripts/bench.sh

man: build
	$(SWIFT) run jira-auth-agent --generate-manual 2>/dev/null || true

install: release
	install -Dm755 .build-release/release/jira-auth-agent $(DESTDIR)$(PREFIX)/bin/jira-auth-agent
	install -Dm644 share/man/man1/jira-auth-agent.1 $(DESTDIR)$(PREFIX)/share/man/man1/jira-auth-agent.1
	install -Dm644 share/jira-auth-agent/connections.example.toml $(DESTDIR)$(PREFIX)/share/jira-auth-agent/connections.example.toml
	install -Dm644 share/systemd/user/jira-auth-agent.service $(DESTDIR)$(PREFIX)/lib/systemd/user/jira-auth-agent.service
	sed -i 's#@BINDIR@#$(PREFIX)/bin#' $(DESTDIR)$(PREFIX)/lib/systemd/user/jira-auth-agent.service
	install -Dm644 share/completions/jira-auth-agent.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/jira-auth-agent

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/jira-auth-agent $(DESTDIR)$(PREFIX)/share/man/man1/jira-auth-agent.1 \
	  $(DESTDIR)$(PREFIX)/lib/systemd/user/jira-auth-agent.service \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/jira-auth-agent
	rm -rf $(DESTDIR)$(PREFIX)/share/jira-auth-agent

clean:
	rm -rf .build .build-release .run
