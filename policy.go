package fence

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/internal/cfgfile"
	"github.com/nsfence/fence/internal/pathglob"
	"github.com/nsfence/fence/nsexec"
)

// DangerousFiles may not be written in the working directory or in $HOME,
// even where writes are allowed: shell start-up files and tool configs run
// code later, outside the sandbox.
var DangerousFiles = []string{
	".gitconfig", ".gitmodules", ".bashrc", ".bash_profile", ".bash_login", ".bash_logout",
	".bash_aliases", ".zshrc", ".zprofile", ".zshenv", ".zlogin", ".zlogout", ".profile",
	".ripgreprc", ".mcp.json", ".tmux.conf", ".vimrc", ".gvimrc", ".exrc", ".emacs", ".emacs.el",
}

// zshFiles are the start-up files zsh reads from $ZDOTDIR (else $HOME,
// where DangerousFiles has them too), with the compiled forms it runs
// instead when they are newer (.zshrc.zwc).
var zshFiles = []string{
	".zshrc", ".zprofile", ".zshenv", ".zlogin", ".zlogout",
	".zshrc.zwc", ".zprofile.zwc", ".zshenv.zwc", ".zlogin.zwc", ".zlogout.zwc",
}

// zshDump is the completion dump compinit sources at every interactive
// start, in $HOME or $ZDOTDIR (oh-my-zsh appends the host and version).
// A pattern: protectedPatterns.
const zshDump = ".zcompdump*"

// DangerousHomePaths are protected like DangerousFiles, in $HOME only
// (writable when it is the working directory): what lets someone in over
// SSH or runs code at the next ssh (ProxyCommand, LocalCommand, an
// included file), vim's and Emacs's start-up code and packages, npm's user
// config (node-options, script-shell) and cargo's (a rustc wrapper); the
// programs and libraries the user's shell and Python find first
// (~/.local/bin and ~/bin early in PATH, cargo's and nvm's scripts that
// .profile and .bashrc source, the user site-packages with its .pth
// files); and what bash, X sessions, sensible-editor, gdb and oh-my-zsh
// read at start. Then what runs code at the next use of a tool: yarn's
// and bun's global configs (yarnPath, preload scripts), pip's legacy
// config directory (an index of the sandbox's choice: its packages' build
// code runs at the next pip install), the start-up files of REPLs and
// database shells (irb, pry, psql's \!, sqlite's .shell, the MySQL
// client's pager, Python's PYTHONSTARTUP file, IPython's start-up
// scripts, configs and extensions, not the rest of ~/.ipython, where it
// keeps its history and without which it does not start; Jupyter's
// configs, R, Julia, GHCi), curl's defaults (an output file of the
// config's choice for every download), readline's key bindings (a
// macro bound to Enter types a command into every bash), less's (its #env
// section sets LESSOPEN, a program run for every file that git and man
// page through less), screen's, Mercurial's hooks, jj's legacy config
// (~/.jjconfig.toml, read beside ~/.config/jj), WezTerm's and
// Alacritty's home-level configs, and what zsh and bash start-up files
// commonly source (powerlevel10k's and fzf's scripts). And what the
// Cursor editor, outside the sandbox, runs from ~/.cursor, which -t code
// makes writable for cursor-agent: its extensions, and the MCP servers and
// hooks it shares with the CLI (which reads them, and writes neither).
// And ~/.pam_environment, the variables pam_env sets at the next login
// where user_readenv is on (LD_PRELOAD among them, for every process).
// And bun's own executable and global packages (~/.bun/bin, which bun's
// installer puts first in PATH, and ~/.bun/install/global, where its
// links lead), which -t code's ~/.bun/** made writable: a bun planted
// there ran at the user's next bun command.
var DangerousHomePaths = []string{
	".ssh/authorized_keys", ".ssh/authorized_keys2", ".ssh/config", ".ssh/config.d", ".ssh/rc", ".ssh/environment",
	".vim", ".emacs.d", ".npmrc", ".cargo/config.toml", ".cargo/config",
	".local/bin", "bin", ".local/lib", ".cargo/env", ".cargo/bin", ".nvm/nvm.sh", ".oh-my-zsh",
	".bash_completion", ".selected_editor", ".xsessionrc", ".xprofile", ".gdbinit", ".pam_environment",
	".yarnrc", ".yarnrc.yml", ".bunfig.toml", ".pip",
	".irbrc", ".pryrc", ".psqlrc", ".sqliterc", ".my.cnf", ".pythonrc", ".pythonrc.py", ".jupyter",
	".ipython/profile_default/startup", ".ipython/profile_default/ipython_config.py",
	".ipython/profile_default/ipython_config.json", ".ipython/profile_default/ipython_kernel_config.py", ".ipython/extensions",
	".Rprofile", ".julia/config", ".ghci", ".curlrc", ".inputrc", ".lesskey", ".less", ".screenrc", ".hgrc", ".jjconfig.toml",
	".wezterm.lua", ".alacritty.toml", ".p10k.zsh", ".fzf.bash", ".fzf.zsh",
	".cursor/extensions", ".cursor/mcp.json", ".cursor/hooks.json",
	".bun/bin", ".bun/install/global",
	// What Fedora's and RHEL's default .bashrc sources (Debian's is
	// .bash_aliases, above), the X session script, wget's defaults (as
	// .curlrc), tcsh's and csh's start-up files.
	".bashrc.d", ".xsession", ".wgetrc", ".tcshrc", ".cshrc", ".login",
	// What startx runs: the session script (as .xsession for a display
	// manager) and the X server's command line.
	".xinitrc", ".xserverrc",
}

// DangerousDirs are protected like DangerousFiles, in the working directory.
var DangerousDirs = []string{".vscode", ".idea", ".claude/commands", ".claude/agents", ".git/hooks"}

// agentProjectDirs are protected like DangerousDirs, in the working
// directory and in the work trees of childRepos: Codex's project
// configuration (.codex/config.toml), whose hooks, MCP servers and
// sandbox mode the next codex run in the repository, outside the
// sandbox, takes (in a repository the user trusted, as one works in).
// Codex's own Linux sandbox keeps .codex read-only in the roots it lets
// commands write, for that reason. Likewise the project settings of
// Claude Code and Gemini CLI (hooks: commands run at the agent's events),
// Cursor's project MCP servers, and aider's config (its lint and test
// commands), none of which the agents write in their normal work (Claude
// Code saves the permissions one allows to .claude/settings.local.json,
// left writable). Not where one is an agent's own home (agentHome):
// ~/.codex, ~/.claude, ~/.gemini, ~/.cursor with fence started in $HOME,
// or $CODEX_HOME or $CLAUDE_CONFIG_DIR in the project
// (CODEX_HOME=$PWD/.codex), which the agents write.
var agentProjectDirs = []string{".codex", ".claude/settings.json", ".gemini/settings.json", ".cursor/mcp.json", ".aider.conf.yml"}

// childRepoFiles are protected in the work tree of each repository one
// level below the working directory (childRepos): what runs code when the
// user works there outside the sandbox (an editor's tasks, an agent's
// commands and MCP servers, the submodules git fetches). The shell
// start-up files of DangerousFiles matter in $HOME and the working
// directory only; .git/hooks is gitPaths'.
// HEAD: with the .git beside it broken (its HEAD, which git writes, stays
// writable), git takes DIR itself for a bare repository (bareRepoHeads).
var childRepoFiles = []string{".vscode", ".idea", ".claude/commands", ".claude/agents", ".mcp.json", ".gitmodules", "HEAD"}

// DangerousConfigDirs are protected like DangerousFiles, in the user's
// configuration directories ($XDG_CONFIG_HOME and ~/.config), which
// templates such as code make writable. Each runs code the next time the
// user, outside the sandbox, starts the tool or logs in: git's global
// config (as ~/.gitconfig: core.hooksPath, core.fsmonitor); the start-up
// files of shells (fish, nushell, PowerShell), editors (Neovim, Vim, the
// user settings and tasks of VS Code and its forks: a terminal profile or
// its environment), tmux, terminals (WezTerm runs Lua, kitty, Alacritty
// and Ghostty a shell of the config's choice) and window managers (their
// exec lines); direnv's library, which every .envrc evaluation sources;
// mise's global config (hooks, env sources); starship's custom modules,
// run at every prompt; the bash completions file Debian's bash sources at
// login; gh's config (a pager, aliases that run commands); go's env file
// (GOFLAGS=-toolexec runs a program at every build); gdb's init file;
// user-dirs.dirs, which xdg-user-dir sources; husky's init.sh, which
// husky 9's hook runner sources before every hook of every repository
// that uses it (so its hook scripts' protection is not undone from
// here); and what systemd (units, drop-ins, environment.d) or the desktop
// session (autostart, Plasma's env scripts) starts at the next login. zsh's
// start-up files in zsh/ come from zshFiles: ZDOTDIR often points there
// from ~/.zshenv, where fence cannot see it.
// Also: package managers' configs (pip's and uv's index, whose packages'
// build code runs at the next install; pnpm's and npm's rc files with
// script-shell and node-options; yarn's global packages, run as commands
// (not yarn/link, which `yarn link` writes);
// podman's hooks, registries and signature policy); version control and
// pagers (jj's commands and pagers; lazygit's config.yml, not its
// directory, which lazygit makes at start and fails without, and in its
// legacy jesseduffield/lazygit too, which it reads first; bat's pager, less's
// LESSOPEN in lesskey and in its compiled form, less, which less 590
// reads from $XDG_CONFIG_HOME; curl's defaults, readline's key bindings;
// bun's global .bunfig.toml, which bun reads from $XDG_CONFIG_HOME when
// that is set, instead of ~/.bunfig.toml); editors
// that start language servers or plugins from their config (Helix, Zed,
// micro: its init.lua, plugins, settings and bindings, not its backups
// and history, nor the directory, which micro makes at every start and
// fails without; Kakoune, Doom Emacs, Sublime Text, JetBrains IDEs) and
// IPython's start-up scripts; file managers that run commands at start (ranger,
// lf, yazi); PipeWire's context.exec and WirePlumber's scripts; more
// window managers and bars. Mercurial's hgrc (hooks, as ~/.hgrc), zellij's
// layouts (commands run in panes at start) and nvm when installed with
// XDG_CONFIG_HOME set (its nvm.sh, which .bashrc sources, and its Node.js
// versions). ccache's and sccache's configs: compiler_check and
// prefix_command run a program at every compile, and cache_dir (sccache's
// cache.disk.dir) would move the user's cache, which toolCacheEnv keeps
// read-only, to where the sandbox writes.
var DangerousConfigDirs = []string{
	"git", "fish", "systemd", "environment.d", "autostart", "autostart-scripts", "plasma-workspace",
	"nvim", "vim", "emacs", "tmux", "direnv", "mise", "starship.toml", "nushell", "powershell",
	"bash_completion", "gh/config.yml", "go/env", "gdb", "user-dirs.dirs", "husky",
	"wezterm", "kitty", "alacritty", "ghostty",
	"i3", "sway", "hypr", "niri", "river", "labwc", "openbox",
	"pip", "uv", "pnpm", "npm", "yarn/global", ".bunfig.toml", "containers",
	"jj", "lazygit/config.yml", "jesseduffield/lazygit/config.yml", "bat", "lesskey", "less", ".curlrc", "readline",
	"helix", "zed", "micro/init.lua", "micro/plug", "micro/settings.json", "micro/bindings.json", "kak", "doom", "sublime-text", "JetBrains", "ipython",
	"ranger", "lf", "yazi", "pipewire", "wireplumber",
	"awesome", "qtile", "bspwm", "sxhkd", "xmonad", "herbstluftwm", "polybar", "waybar",
	"hg", "zellij", "nvm", "ccache", "sccache",
	// Python run at every ptpython start, Ruby at every irb start.
	"ptpython/config.py", "irb/irbrc",
	// GNOME's settings database: custom keyboard shortcuts and GNOME
	// Terminal's custom command run what it says.
	"dconf",
}

// vscodeUserFiles returns what VS Code and its forks run commands from,
// relative to the configuration directory: in each one's user directory,
// settings (terminal profiles and their environment), tasks, MCP servers,
// and the same per profile; the MCP servers of the agent extensions that
// keep them in their global storage (Cline, Roo Code). (A function: a package-level list would be
// built at init, in every process that runs this binary.)
func vscodeUserFiles() []string {
	var out []string
	for _, app := range []string{"Code", "Code - Insiders", "Code - OSS", "VSCodium", "Cursor", "Windsurf"} {
		for _, f := range []string{"settings.json", "tasks.json", "mcp.json", "profiles",
			// The MCP servers of Cline and Roo Code, which they start with
			// the editor.
			"globalStorage/saoudrizwan.claude-dev/settings", "globalStorage/rooveterinaryinc.roo-cline/settings"} {
			out = append(out, app+"/User/"+f)
		}
	}
	return out
}

// DangerousDataDirs are protected like DangerousFiles, in the user's data
// directories ($XDG_DATA_HOME and ~/.local/share), which templates such as
// code make writable: systemd's user units, desktop entries (one named
// like an installed application replaces it in menus and file
// associations), D-Bus services (started when a program asks for their
// name), Neovim's plugins, bash's completions and fish's vendor snippets
// and generated completions (sourced by the shell), and direnv's list of
// approved .envrc files (an entry planted there runs a .envrc without
// asking). Also the programs that version managers install and the host
// then runs (mise's tools and shims, fnm's Node.js versions), zsh plugin
// managers' plugins (zinit, sheldon), editors' language servers and
// plugins (Zed, JetBrains IDEs), GNOME Shell's extensions, KDE's service
// menus and plasmoids, and Flatpak's per-user applications. Also gh's
// extensions (run as `gh NAME`), Jupyter's kernel specs (their argv is
// what Jupyter and VS Code's notebooks start), the applications pipx and
// uv install (their venvs: a .pth file or a module there runs at the
// tool's next start; the launcher in ~/.local/bin is protected, not what it
// loads), and what shells source at every start from here: oh-my-fish
// (conf.d/omf.fish sources omf/init.fish), ble.sh, zap's zsh plugins;
// code-server's extensions and user settings. Not uv's managed Pythons
// (uv/python) nor pipx's `pipx run` cache: uv and pipx write them inside.
var DangerousDataDirs = []string{
	"systemd", "applications", "dbus-1", "nvim", "bash-completion", "direnv",
	"fish/vendor_conf.d", "fish/vendor_functions.d", "fish/vendor_completions.d", "fish/generated_completions",
	"mise", "fnm", "zinit", "sheldon", "zed", "JetBrains", "gnome-shell", "kio", "kservices5", "plasma", "flatpak",
	"gh/extensions", "jupyter/kernels", "pipx/venvs", "uv/tools", "omf", "blesh", "zap", "code-server",
	// Konsole's profiles (Command=, run in every new tab) and JupyterLab's
	// extensions (JavaScript in the browser session, which runs code in
	// the kernels).
	"konsole", "jupyter/labextensions",
}

// DangerousStateDirs are protected like DangerousFiles, in the user's state
// directories ($XDG_STATE_HOME and ~/.local/state), which templates such as
// code make writable: the lists of trusted project files of mise (a
// planted entry makes a project's mise.toml run its hooks and env sources
// unasked) and Neovim (.nvim.lua, exrc).
var DangerousStateDirs = []string{"mise/trusted-configs", "nvim/trust"}

// DangerousCacheDirs are protected like DangerousFiles, in the user's cache
// directories ($XDG_CACHE_HOME and ~/.cache), which templates such as code
// make writable: what an interactive shell runs from there at every start
// or prompt, which nothing in the sandbox needs to write (a shell started
// inside downloads or clones them, if missing, outside the sandbox's
// reach only): powerlevel10k's gitstatusd binary (run at every prompt) and
// antidote's cloned zsh plugins (sourced at every start). oh-my-posh's
// init scripts are zshDumpPatterns'. Not the build caches that tools
// inside must write (go-build, pre-commit, ccache): see the README.
// And the browsers end-to-end test tools run (Playwright's, Puppeteer's,
// Cypress's): -t code cannot download them anyway (their hosts are not in
// its allowedDomains); the sandbox's tests still run the ones there. And
// yarn 1's cache, whose unpacked packages it copies into node_modules
// unchecked (it warns and uses a temporary cache when this one is not
// writable).
var DangerousCacheDirs = []string{"gitstatus", "antidote", "ms-playwright", "puppeteer", "Cypress", "yarn",
	// parso's pickles, which jedi (editors' Python completion, IPython)
	// loads outside, with no variable to move them: in parso's own cache, and in jedi's, where
	// jedi has parso keep the pickles of every module it completes from
	// (cache_path=settings.cache_directory, ~/.cache/jedi). parso
	// goes on without saving them only once the version's directory (CPython-312-33) is there,
	// which a run outside makes: before, its lookup (os.makedirs) fails
	// with PermissionError, and jedi inside with it. Not pipx's
	// (pipx run's virtualenvs, which it writes inside: see
	// DangerousDataDirs).
	"parso", "jedi"}

// toolCaches are the caches, in the user's cache directory, from which a
// tool run later outside the sandbox takes code without checking it
// against anything the sandbox cannot forge: go's build cache (the
// executables of go run and go tool, checked by size only, and every
// compiled package), pip's built wheels, uv's unpacked archives (linked
// into every virtualenv uv makes), pre-commit's hook repositories (run at
// every git commit), ccache's and sccache's objects. -t code makes the
// cache directory writable; where it is (toolCacheEnv), each of these is
// read-only in the sandbox, and the tool is pointed at a cache of the
// sandbox's own, which nothing outside reads.
// Also Deno's (remote modules and npm packages) and bun's, which is not in
// the cache directory but in ~/.bun/install/cache (home). Not yarn's:
// YARN_CACHE_FOLDER would also move a Yarn 2+ project's own cache
// (.yarn/cache, committed for zero-installs); yarn 1's cache is
// DangerousCacheDirs' instead (yarn 1 falls back to a temporary cache).
var toolCaches = []struct{ dir, env, home string }{
	{"go-build", "GOCACHE", ""}, {"pip", "PIP_CACHE_DIR", ""}, {"uv", "UV_CACHE_DIR", ""},
	{"pre-commit", "PRE_COMMIT_HOME", ""}, {"ccache", "CCACHE_DIR", ""}, {"sccache", "SCCACHE_DIR", ""},
	{"deno", "DENO_DIR", ""}, {"bun", "BUN_INSTALL_CACHE_DIR", ".bun/install/cache"},
	// corepack's: the pnpm and yarn that its shims (corepack enable)
	// run at every pnpm or yarn command outside, checked only when
	// downloaded.
	{"node/corepack", "COREPACK_HOME", ""},
	// Black's and pylint's caches are pickles, which their next run
	// outside loads (code, for whoever wrote them); bazelisk's and
	// Selenium Manager's hold the bazel and browser drivers they run;
	// tree-sitter's the compiled grammars it loads. Not node-gyp's headers
	// (common.gypi, whose <!(command) expansions gyp runs): node-gyp 10
	// (npm 10's) reads its cache's place only from npm_config_devdir, of
	// which npm 11 warns at every command, and a read-only cache fails the
	// first native build inside. Nor poetry's virtualenvs, where poetry
	// run takes the project's: like a project's .venv, which stays
	// writable, a cache of its own would leave poetry run without the
	// project's packages.
	{"black", "BLACK_CACHE_DIR", ""}, {"pylint", "PYLINTHOME", ""},
	{"bazelisk", "BAZELISK_HOME", ""}, {"selenium", "SE_CACHE_PATH", ""},
	{"tree-sitter/lib", "TREE_SITTER_LIBDIR", ""},
}

// sandboxCaches is the directory, in the user's cache directory, of the
// sandbox's own tool caches (toolCaches).
const sandboxCaches = "fence-sandbox"

// toolCacheEnv returns the host caches of toolCaches that are writable in
// the sandbox (under changeable), to protect, the environment that points
// their tools at caches of the sandbox's own in the user's cache
// directory, $XDG_CACHE_HOME/fence-sandbox/NAME (or ~/.cache's, whichever
// is writable), and those own directories, which the caller holds (a
// symlink planted there by one run would decide where the next one's
// lead). A cache the user moved with the tool's variable counts where it
// points, and so does the default place, which a tool run without the
// variable uses. Nothing when no cache directory is writable itself
// (allowWrite of one cache shares it on purpose). Otherwise the host
// caches are protected whether or not there is an own one to point the
// tools at: a run that made fence-sandbox a symlink out of the writable
// paths must not make the next one leave them writable; the tools then
// write nowhere (their caches are read-only), as without -t code.
// platform are the platform's own user cache directories, after the XDG
// ones: macOS's ~/Library/Caches, where go, pip, deno and ccache keep
// theirs there (os.UserCacheDir, platformdirs).
func (s *Spec) toolCacheEnv(changeable []string, platform ...string) (protect, env, own []string) {
	writable := func(p string) bool {
		res, _, err := s.paths.evalPartial(p, changeable)
		return err == nil && underAny(res, changeable)
	}
	cacheDirs := s.xdgDirs("XDG_CACHE_HOME", ".cache")
	for _, d := range platform {
		if !slices.Contains(cacheDirs, d) {
			cacheDirs = append(cacheDirs, d)
		}
	}
	var root string
	for _, d := range cacheDirs {
		// Only where a cache directory is writable whole: an allowWrite
		// of ~/.cache/go-build alone shares that cache on purpose.
		if writable(d) {
			if c := filepath.Join(d, sandboxCaches); root == "" && writable(c) && s.cacheDirUsable(c) {
				root = c
			}
			// Held wherever it is writable, used or not: what a
			// run leaves there is what the next one, with or
			// without XDG_CACHE_HOME, resolves.
			own = append(own, filepath.Join(d, sandboxCaches))
		}
	}
	if len(own) == 0 {
		return nil, nil, nil
	}
	for _, t := range toolCaches {
		var hosts []string
		if d := s.envDir(t.env); d != "" {
			hosts = append(hosts, d)
		}
		osEnv := ""
		if t.env == "BAZELISK_HOME" {
			// bazelisk takes BAZELISK_HOME_LINUX (_DARWIN on macOS)
			// before BAZELISK_HOME: both are pointed at the sandbox's.
			osEnv = t.env + "_" + strings.ToUpper(runtime.GOOS)
			if d := s.envDir(osEnv); d != "" {
				hosts = append([]string{d}, hosts...)
			}
		}
		if t.env == "GOCACHE" {
			// go env -w GOCACHE=... keeps it in go's env file, which
			// the environment overrides for the command but not for
			// the user's go outside.
			if d := s.goEnvFileDir(t.env); d != "" && !slices.Contains(hosts, d) {
				hosts = append(hosts, d)
			}
		}
		var defaults []string
		switch {
		case t.home == "":
			for _, d := range cacheDirs {
				defaults = append(defaults, filepath.Join(d, t.dir))
			}
		case s.Home != "":
			defaults = append(defaults, filepath.Join(s.Home, t.home))
			if d := s.envDir("BUN_INSTALL"); d != "" && t.dir == "bun" {
				defaults = append(defaults, filepath.Join(d, "install", "cache"))
			}
		}
		for _, d := range defaults {
			if !slices.Contains(hosts, d) {
				hosts = append(hosts, d)
			}
		}
		// Not the sandbox's own (fence run in fence): it is no host's.
		hosts = slices.DeleteFunc(hosts, func(h string) bool { return underAny(h, own) })
		// A cache counts where its name can be changed too: one that is
		// a symlink out of the writable paths (moved to another disk)
		// resolves to a read-only place, but the link itself, in a
		// writable ~/.cache, can be replaced by a directory of the
		// sandbox's, which the user's tool outside then reads.
		replaceable := func(h string) bool { return writable(h) || writable(filepath.Dir(h)) }
		if !slices.ContainsFunc(hosts, replaceable) {
			continue
		}
		protect = append(protect, hosts...)
		if root == "" {
			s.logf("%s: %s is read-only in the sandbox (what a tool outside takes from it runs there), and no cache of the sandbox's own is writable", t.env, hosts[0])
			continue
		}
		d := filepath.Join(root, t.dir)
		env = append(env, t.env+"="+d)
		if osEnv != "" {
			env = append(env, osEnv+"="+d)
		}
		own = append(own, d)
		s.logf("%s: %s is read-only in the sandbox (what a tool outside takes from it runs there); the command's is %s", t.env, hosts[0], d)
	}
	return protect, env, own
}

// cacheDirUsable reports whether dir, the sandbox's own cache directory,
// is a directory or missing. A file there (a run may make one: the name is
// held like a grant, which takes a plain file) would make every tool that
// is pointed below it fail; the host caches stay read-only then, and the
// user is told what to remove.
func (s *Spec) cacheDirUsable(dir string) bool {
	if fi, err := os.Lstat(dir); err != nil || fi.IsDir() {
		return true
	}
	fmt.Fprintf(s.stderr(), "Warning: %s is not a directory (an earlier run may have made it): the tools' caches in the sandbox stay read-only this run; remove it\n", dir)
	return false
}

// goEnvFileDir returns the absolute directory that go's env file ($GOENV,
// else go/env in the user's configuration directory, where go env -w
// writes) sets key to, or "". The configuration directory is go's
// (os.UserConfigDir): ~/Library/Application Support on macOS, whatever
// XDG_CONFIG_HOME says. Of several lines for key, go takes the last (go
// env -w drops the others). Only a regular file is read: a FIFO there
// would stop fence.
func (s *Spec) goEnvFileDir(key string) string { return s.goEnvFileDirOS(runtime.GOOS, key) }

func (s *Spec) goEnvFileDirOS(goos, key string) string {
	file := s.envDir("GOENV")
	if file == "" {
		d := s.xdgDir("XDG_CONFIG_HOME", ".config")
		if goos == "darwin" || goos == "ios" {
			d = ""
			if s.Home != "" {
				d = filepath.Join(s.Home, "Library", "Application Support")
			}
		}
		if d != "" {
			file = filepath.Join(d, "go", "env")
		}
	}
	if file == "" {
		return ""
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	dir := ""
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		dir = ""
		if filepath.IsAbs(v) {
			dir = filepath.Clean(v)
		}
	}
	return dir
}

// credentialPaths are hidden from reads unless allowRead names them (or
// their own directory, credentialOwnDir): the keys and tokens a
// compromised build would exfiltrate first. credentialEnv adds where the
// command's environment moves them.
var credentialPaths = []string{
	"~/.ssh/id_*", "~/.gnupg", "~/.aws/credentials", "~/.netrc", "~/.git-credentials",
	"~/.docker/config.json", "~/.kube/config", "~/.config/gh/hosts.yml", "~/.pypirc",
	"~/.cargo/credentials", "~/.cargo/credentials.toml", "~/.config/gcloud/credentials.db",
	"~/.config/gcloud/application_default_credentials.json",
	// Tokens the same tools keep beside those: AWS SSO's access tokens and
	// the CLI's temporary STS keys, gcloud's per-account refresh tokens and
	// cached access tokens, git's credential store under XDG.
	"~/.aws/sso/cache", "~/.aws/cli/cache", "~/.config/gcloud/legacy_credentials",
	"~/.config/gcloud/access_tokens.db", "~/.config/git/credentials",
	// Registry logins of podman, buildah and skopeo (docker's are
	// config.json above); also in $XDG_RUNTIME_DIR, where they look first.
	"~/.config/containers/auth.json",
	// The Azure CLI's tokens and service principals' secrets (plain JSON
	// on Linux; the cache's encrypted form where a keyring is), Vault's
	// token, Terraform's and RubyGems' API tokens.
	"~/.azure/msal_token_cache.json", "~/.azure/msal_token_cache.bin", "~/.azure/accessTokens.json",
	"~/.azure/service_principal_entries.json", "~/.azure/service_principal_entries.bin",
	"~/.vault-token", "~/.terraform.d/credentials.tfrc.json", "~/.gem/credentials",
	// PostgreSQL's passwords, rclone's cloud storage tokens, and the
	// browsers' profiles: session cookies and saved passwords (Chrome's
	// are encrypted with a key any process of the user can get on Linux).
	"~/.pgpass", "~/.config/rclone/rclone.conf", "~/.mozilla/firefox",
	"~/.config/google-chrome", "~/.config/chromium", "~/.config/BraveSoftware",
	// The same browsers as Ubuntu ships them (snaps: Firefox is one by
	// default there) and as Flathub does, and Edge's and Vivaldi's.
	"~/snap/firefox/common/.mozilla/firefox", "~/snap/chromium/common/chromium",
	"~/.var/app/org.mozilla.firefox/.mozilla/firefox", "~/.config/microsoft-edge", "~/.config/vivaldi",
}

// systemCredentials are hidden on Linux beside credentialPaths: the
// system's secrets that only root (or a group such as shadow or ssl-cert)
// may read, password hashes, the ssh host keys, TLS private keys (run as
// root, fence maps the sandbox's uid 0 to the host's: without
// capabilities it still owns these files, and their owner bits let it
// read them); and a container's, which every uid there may read. Only a
// grant of the path itself (or of /etc/ssh for the host keys) lifts one:
// allowRead ["/etc"] asks for the configuration, not for the keys.
var systemCredentials = []credential{
	{"/etc/shadow", "/etc/shadow"}, {"/etc/shadow-", "/etc/shadow-"},
	{"/etc/gshadow", "/etc/gshadow"}, {"/etc/gshadow-", "/etc/gshadow-"},
	{"/etc/ssh/ssh_host_*_key", "/etc/ssh"}, {"/etc/ssl/private", "/etc/ssl/private"},
	{"/etc/pki/tls/private", "/etc/pki/tls/private"}, // Fedora's and RHEL's
	// A container's secrets: Docker's and Compose's in /run/secrets,
	// Kubernetes' service account token (the cluster's API to whoever
	// holds it) in /var/run/secrets, readable by every uid there.
	{"/run/secrets", "/run/secrets"}, {"/var/run/secrets", "/var/run/secrets"},
}

// rootCredentials are hidden beside systemCredentials when fence runs as
// root (for anyone else their owner bits refuse the read anyway, and a
// mask would cost every start a mount): old password hashes (pam_pwhistory)
// and the backups of the current ones, Kerberos host keys, TLS and node keys, the secrets of NetworkManager's connections (Wi-Fi
// keys, VPN passwords), IPsec's, PPP's and WireGuard's, and the kernel's
// tracing and debug file systems (tracing's output shows what every
// process on the host does, and a read of trace_pipe takes the events
// from whoever traces on the host).
var rootCredentials = []credential{
	{"/etc/security/opasswd", "/etc/security/opasswd"}, {"/etc/krb5.keytab", "/etc/krb5.keytab"},
	{"/etc/NetworkManager/system-connections", "/etc/NetworkManager/system-connections"},
	{"/etc/ipsec.secrets", "/etc/ipsec.secrets"}, {"/etc/ipsec.d/private", "/etc/ipsec.d/private"},
	{"/etc/ppp/chap-secrets", "/etc/ppp/chap-secrets"}, {"/etc/ppp/pap-secrets", "/etc/ppp/pap-secrets"},
	{"/etc/wireguard", "/etc/wireguard"},
	// Debian's and Ubuntu's daily copies of the password hashes (until
	// 2022), Let's Encrypt's private keys, systemd's key for encrypted
	// service credentials, Tailscale's node keys.
	{"/var/backups/shadow.bak", "/var/backups/shadow.bak"}, {"/var/backups/gshadow.bak", "/var/backups/gshadow.bak"},
	{"/etc/letsencrypt/archive", "/etc/letsencrypt/archive"}, {"/etc/letsencrypt/live", "/etc/letsencrypt/live"},
	{"/etc/letsencrypt/keys", "/etc/letsencrypt/keys"},
	{"/var/lib/systemd/credential.secret", "/var/lib/systemd/credential.secret"},
	{"/var/lib/tailscale", "/var/lib/tailscale"},
	{"/sys/kernel/tracing", "/sys/kernel/tracing"}, {"/sys/kernel/debug", "/sys/kernel/debug"},
}

// hiddenSystemPaths is systemCredentials, with rootCredentials for a
// fence run as root.
func hiddenSystemPaths() []credential {
	if os.Geteuid() != 0 {
		return systemCredentials
	}
	return append(append([]credential{}, systemCredentials...), rootCredentials...)
}

// systemReadPaths stay visible in defaultDenyRead mode, as upstream.
var systemReadPaths = []string{
	"/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/run",
	"/sys", "/nix", "/snap", "/var/lib", "/var/cache",
	"~/.nvm", "~/.fnm", "~/.volta", "~/.n", "~/.pyenv", "~/.local/pipx", "~/.rbenv", "~/.rvm",
	"~/.cargo/bin", "~/.rustup", "~/go/bin", "~/.go", "~/.local/bin", "~/bin", "~/.bun/bin", "~/.deno/bin",
}

// expand turns one config path into the existing host paths it names,
// symlinks resolved. Globs are matched in one directory only ("dir/**"
// means dir); a "**" elsewhere would need a tree walk at start, which fence
// does not do, so such patterns expand to nothing here (debug explains).
// err is the first lookup that failed for another reason than the name's
// absence for the sandbox (failure, given the paths writable in it): paths
// is then what could be resolved. Callers that grant access may ignore it;
// callers that hide or protect must not. A "~" path without a home names
// nothing.
func (s *Spec) expand(p string, writable []string) (paths []string, err error) {
	abs := s.configPattern(p)
	if !filepath.IsAbs(abs) {
		return nil, nil
	}
	if rest, ok := strings.CutSuffix(abs, "/**"); ok && !strings.Contains(rest, "**") {
		abs = rest
		if abs == "" {
			abs = "/"
		}
	}
	if !pathglob.HasMeta(abs) {
		r, err := s.paths.eval(pathglob.Unescape(abs))
		if err != nil {
			return nil, failure(err, writable)
		}
		return []string{r}, nil
	}
	if strings.Contains(abs, "**") {
		// Needs a tree walk: callers handle these (denyWrite through the
		// write guard, denyRead refused, allow* ignored with a warning).
		return nil, nil
	}
	matches, err := s.paths.glob(abs, func(e error) error { return failure(e, writable) })
	out := matches[:0]
	for _, m := range matches {
		r, rerr := s.paths.eval(m)
		if rerr != nil {
			if err == nil {
				err = failure(rerr, writable)
			}
			continue
		}
		out = append(out, r)
	}
	return out, err
}

// lastGlobs returns ps, patterns with globs in their last component only,
// as config paths: the directory escaped (pathglob.Literal).
func lastGlobs(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		dir, base := filepath.Split(p)
		out[i] = filepath.Join(pathglob.Literal(filepath.Clean(dir)), base)
	}
	return out
}

// configLiterals returns absolute paths as config entries that name them
// literally (configPattern): one with a glob character escaped, as
// configPattern takes such an entry for a pattern.
func configLiterals(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if strings.ContainsAny(p, "*?[") {
			p = pathglob.Literal(p)
		}
		out = append(out, p)
	}
	return out
}

// configPattern turns a config path into an absolute pattern in
// filepath.Match's syntax: the home or working directory it is relative to
// is taken literally (pathglob.Literal), whatever characters its name has (a
// working directory "proj [old]" made every relative path a glob that
// matched nothing: denyRead and the protections under it named nothing);
// the config's own part keeps its glob characters. A path without glob
// characters is a path, backslashes and all. "" for a "~" path without a
// home.
func (s *Spec) configPattern(p string) string {
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		if s.Home == "" {
			return ""
		}
		if !strings.ContainsAny(p, "*?[") {
			return pathglob.Literal(filepath.Join(s.Home, p[1:]))
		}
		return filepath.Join(pathglob.Literal(s.Home), p[1:])
	case !strings.ContainsAny(p, "*?["):
		// (A "]" alone is no glob.)
		return pathglob.Literal(config.ExpandPath(p, s.Home, s.Cwd))
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	}
	return filepath.Join(pathglob.Literal(s.Cwd), p)
}

// projectDenials returns the relative denyRead and denyWrite entries of
// a project config found above the working directory (the nearest
// fence.json up to the repository's top), taken from the config's own
// directory, as patterns (configPattern). Relative paths are the working
// directory's, as upstream takes them; but a repository's fence.json
// that hides secrets.txt or protects config/*.yml meant its own: for a
// run started in a subdirectory, ../secrets.txt was readable and
// ../config/app.yml writable. The entries count from both places then.
// Only denials: what a relative grant gives stays the working directory's.
func (s *Spec) projectDenials() (denyRead, denyWrite []string) {
	anchor := func(dir string, ps []string) []string {
		var out []string
		for _, p := range ps {
			if p == "" || filepath.IsAbs(p) || p == "~" || strings.HasPrefix(p, "~/") {
				continue
			}
			if strings.ContainsAny(p, "*?[") {
				out = append(out, filepath.Join(pathglob.Literal(dir), p))
			} else {
				out = append(out, pathglob.Literal(filepath.Join(dir, p)))
			}
		}
		return out
	}
	for _, src := range s.Sources {
		if dir := filepath.Dir(src.Path); src.Kind == config.SourceProject && dir != s.Cwd {
			dr, dw := src.Denials()
			denyRead, denyWrite = append(denyRead, anchor(dir, dr)...), append(denyWrite, anchor(dir, dw)...)
		}
	}
	return denyRead, denyWrite
}

// credentialEnv are the variables that move credentials elsewhere, for
// the tools the command runs: each names a directory holding the files
// in files ("" the directory itself, hidden whole), or, with files nil,
// the credential files themselves (a list for KUBECONFIG).
var credentialEnv = []struct {
	name  string
	files []string
}{
	{"GNUPGHOME", []string{""}},
	{"DOCKER_CONFIG", []string{"config.json"}},
	{"GH_CONFIG_DIR", []string{"hosts.yml"}},
	{"CLOUDSDK_CONFIG", []string{"credentials.db", "application_default_credentials.json", "legacy_credentials", "access_tokens.db"}},
	{"CARGO_HOME", []string{"credentials", "credentials.toml"}},
	{"AZURE_CONFIG_DIR", []string{"msal_token_cache.json", "msal_token_cache.bin", "accessTokens.json",
		"service_principal_entries.json", "service_principal_entries.bin"}},
	{"XDG_CONFIG_HOME", []string{"gh/hosts.yml", "gcloud/credentials.db", "gcloud/application_default_credentials.json",
		"gcloud/legacy_credentials", "gcloud/access_tokens.db", "git/credentials", "containers/auth.json",
		// rclone and the browsers read their ~/.config ones there too.
		"rclone/rclone.conf", "google-chrome", "chromium", "BraveSoftware", "microsoft-edge", "vivaldi"}},
	{"XDG_RUNTIME_DIR", []string{"containers/auth.json"}},
	{"REGISTRY_AUTH_FILE", nil},
	{"DOCKER_CERT_PATH", []string{"key.pem"}},
	{"AWS_SHARED_CREDENTIALS_FILE", nil},
	{"KUBECONFIG", nil},
	{"GOOGLE_APPLICATION_CREDENTIALS", nil},
	{"NETRC", nil},
	// libpq's and rclone's own variables for ~/.pgpass and rclone.conf.
	{"PGPASSFILE", nil},
	{"RCLONE_CONFIG", nil},
}

// credential is a credential path to hide (a config path, "~/" or
// absolute; a pattern for ~/.ssh/id_*) and the directory within which a
// read grant lifts it (see credentialLifted).
type credential struct{ pattern, own string }

// credentials returns credentialPaths and the places credentialEnv's
// variables in the command's environment give (envPath: relative values
// from the working directory, "~/" from $HOME); a value is a path, never
// a pattern, whatever characters it holds.
func (s *Spec) credentials() []credential {
	out := make([]credential, 0, len(credentialPaths)+4)
	for _, cp := range credentialPaths {
		out = append(out, credential{cp, credentialOwnDir(cp)})
	}
	// A value is a path, whatever characters it holds: glob characters
	// are escaped (a path without them is taken literally, backslashes
	// and all, by configPattern).
	lit := func(p string) string {
		if strings.ContainsAny(p, "*?[") {
			return pathglob.Literal(p)
		}
		return p
	}
	add := func(p, own string) {
		p, own = lit(p), lit(own)
		for _, c := range out {
			if c.pattern == p {
				return
			}
		}
		out = append(out, credential{p, own})
	}
	// The last value of a name counts.
	env := s.commandEnv()
	// Private keys in ~/.ssh and its subdirectories that are not named
	// id_* (github_key, keys/work.pem): found by what they hold, lifted
	// like ~/.ssh/id_*. Keys the ssh config names (IdentityFile) are
	// hidden wherever they are; one outside ~/.ssh only by a grant of
	// itself, since a grant of its directory (~/keys, the home) may
	// ask for the rest of it.
	sshDir := filepath.Join(s.Home, ".ssh")
	for _, k := range s.sshPrivateKeys() {
		add(k, "~/.ssh")
	}
	// The home of the account fence runs as, where $HOME is elsewhere (a
	// fresh HOME=$(mktemp -d) for an agent; sudo -E, which keeps the
	// caller's HOME for root): its keys and tokens are the user's as much
	// as $HOME's, and the command, running as that user, could read them.
	// Lifted as at $HOME, by a grant of the file or of its own directory
	// there.
	if h := s.accountHome(); h != "" {
		for _, cp := range credentialPaths {
			out = append(out, credential{h + cp[1:], h + credentialOwnDir(cp)[1:]})
		}
		for _, k := range sshPrivateKeys(h) {
			add(k, filepath.Join(h, ".ssh"))
		}
	}
	for _, k := range s.sshIdentities() {
		if st, err := os.Stat(k); err != nil || !st.Mode().IsRegular() || s.holdsWork(k) {
			continue
		}
		if head, ok := fileHead(k); ok && !holdsPrivateKey(head) && slices.ContainsFunc(publicKeyMarkers, func(m string) bool { return strings.HasPrefix(head, m) }) {
			continue // a public key (see publicKeyMarkers), not a PEM key after a line "ssh-..."
		}
		if underAny(k, []string{sshDir}) {
			add(k, "~/.ssh")
		} else {
			add(k, k)
		}
	}
	for _, e := range credentialEnv {
		v, ok := "", false
		for i := len(env) - 1; i >= 0 && !ok; i-- {
			v, ok = strings.CutPrefix(env[i], e.name+"=")
		}
		if !ok {
			continue
		}
		if e.files == nil {
			for _, f := range filepath.SplitList(v) {
				f, ok := s.envPath(f)
				if !ok {
					continue
				}
				// A file list naming the working directory, $HOME or
				// a directory above them names no credential file,
				// and hiding it would hide the work.
				if s.holdsWork(f) {
					s.logf("credential path %s (%s): not hidden, it holds the working directory or $HOME", f, e.name)
					continue
				}
				add(f, f)
			}
			continue
		}
		dir, ok := s.envPath(v)
		if !ok {
			continue
		}
		files := e.files
		if slices.Contains(files, "") && s.holdsWork(dir) {
			// GNUPGHOME=$PWD (a test keyring), $HOME or "/": hiding
			// it whole would hide the workspace or the home; its
			// secret keys are hidden instead.
			s.logf("credential path %s (%s): holds the working directory or $HOME; hiding its secret keys only", dir, e.name)
			files = gnupgSecrets
		}
		// A grant of the directory lifts its files, unless the directory
		// holds the working directory or $HOME: a grant there asks for
		// the work or the home, not for the keys (credentialOwnDir).
		broad := s.holdsWork(dir)
		for _, f := range files {
			p := filepath.Join(dir, f)
			own := filepath.Dir(p)
			if f == "" || own == dir && (e.name == "XDG_CONFIG_HOME" || broad) {
				own = p
			}
			add(p, own)
		}
	}
	if runtime.GOOS == "linux" {
		// Where podman's login file is when the environment has no
		// XDG_RUNTIME_DIR (sudo -u, su, cron, a CI job): podman takes
		// /run/user/UID for it, the containers/image library
		// /run/containers/UID. The tools the command runs look there
		// too, so the file is hidden there whatever the variable says.
		uid := strconv.Itoa(os.Getuid())
		for _, d := range []string{filepath.Join("/run/user", uid, "containers"), filepath.Join("/run/containers", uid)} {
			add(filepath.Join(d, "auth.json"), d)
		}
	}
	return out
}

// accountHomeOS reports whether the account's own home is looked up on
// goos: Linux's password database, and macOS's directory services (whose
// accounts are not in /etc/passwd: os/user calls libSystem's getpwuid_r
// there, with cgo or without, unless built with the osusergo tag).
func accountHomeOS(goos string) bool { return goos == "linux" || goos == "darwin" }

// lookupAccountHome returns the home directory of the account fence runs
// as, from the password database, or "". A variable: tests give their own.
var lookupAccountHome = func() string { return accountHomeByID(os.Getuid()) }

// accountHome returns the home directory of the account fence runs as,
// resolved, if it exists and is not $HOME (s.Home): "" otherwise, and
// where accountHomeOS says no. One with glob characters in its name is
// left out (logged): its credential paths are patterns.
func (s *Spec) accountHome() string {
	if !accountHomeOS(runtime.GOOS) {
		return ""
	}
	h := lookupAccountHome()
	if !filepath.IsAbs(h) || filepath.Clean(h) == s.Home {
		return ""
	}
	r, err := s.paths.eval(h)
	if err != nil || r == s.Home || r == "/" {
		return ""
	}
	if strings.ContainsAny(r, `*?[\`) {
		s.logf("credential paths in the account's home %s: not hidden, the name has glob characters", r)
		return ""
	}
	return r
}

// privateKeyMarkers start the private key files ssh reads: OpenSSH's own
// format, PEM (PKCS#1, SEC1, PKCS#8, encrypted or not) and PuTTY's.
var privateKeyMarkers = []string{"-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
	"-----BEGIN EC PRIVATE KEY-----", "-----BEGIN DSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----",
	"-----BEGIN ENCRYPTED PRIVATE KEY-----", "PuTTY-User-Key-File-"}

// sshPrivateKeys returns the files in ~/.ssh and in its subdirectories
// (one level: ~/.ssh/keys/work), other than id_* directly in ~/.ssh
// (hidden by name), that start like a private key. A file fence cannot
// read is left out: the command, running as the same user, cannot read it
// either.
func (s *Spec) sshPrivateKeys() []string { return sshPrivateKeys(s.Home) }

// sshPrivateKeys is Spec.sshPrivateKeys for the home directory home.
func sshPrivateKeys(home string) []string {
	if !filepath.IsAbs(home) {
		return nil
	}
	dir := filepath.Join(home, ".ssh")
	out := privateKeysIn(dir, true)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		sub := filepath.Join(dir, e.Name())
		// A symlink to a directory (~/.ssh/keys -> ~/secure/keys, a
		// dotfiles checkout) is a subdirectory to ssh and to the
		// command alike.
		if e.Type() == fs.ModeSymlink {
			if st, err := os.Stat(sub); err == nil && st.IsDir() {
				out = append(out, privateKeysIn(sub, false)...)
			}
			continue
		}
		if e.IsDir() {
			out = append(out, privateKeysIn(sub, false)...)
		}
	}
	return out
}

// maxKeyCandidates bounds the files of one subdirectory of ~/.ssh whose
// first line is read; one holding more is hidden whole (see privateKeysIn).
const maxKeyCandidates = 256

// privateKeysIn returns the files in dir that start like a private key;
// top says dir is ~/.ssh itself, whose id_* are hidden by name. A
// subdirectory with more than maxKeyCandidates files is returned itself:
// reading each (20,000 files took 0.1 s of every start) is not worth it
// for a directory of keys, and leaving it unread would leave its keys
// readable.
func privateKeysIn(dir string, top bool) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	if !top {
		n := 0
		for _, e := range ents {
			if (e.Type() == 0 || e.Type() == fs.ModeSymlink) && !strings.HasSuffix(e.Name(), ".pub") {
				n++
			}
		}
		if n > maxKeyCandidates {
			return []string{dir}
		}
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".pub"):
			continue // public keys
		case e.Type() != 0 && e.Type() != fs.ModeSymlink:
			continue // a directory, a socket (ControlPath), ...
		case top && (strings.HasPrefix(name, "id_") ||
			strings.HasPrefix(name, "known_hosts") || strings.HasPrefix(name, "authorized_keys") ||
			name == "config" || name == "environment" || name == "rc"):
			continue // hidden by name, or ssh's public files: no need to look
		}
		p := filepath.Join(dir, name)
		head, ok := fileHead(p)
		if ok && holdsPrivateKey(head) {
			out = append(out, p)
		}
	}
	return out
}

// keyHeadSize is how much of a file fence reads to tell a private key:
// the largest PEM keys (RSA 16384) and the text OpenSSL writes before one
// ("Bag Attributes" of openssl pkcs12 -nodes) fit in it.
const keyHeadSize = 16 << 10

// fileHead returns the first bytes of the file p (up to keyHeadSize, see
// holdsPrivateKey); false when it cannot be read.
func fileHead(p string) (string, bool) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return "", false
	}
	head := make([]byte, keyHeadSize)
	n, _ := io.ReadFull(f, head)
	f.Close()
	return string(head[:n]), true
}

// holdsPrivateKey reports whether head, the start of a file, holds a
// private key ssh reads: one starting with a privateKeyMarker, or a PEM
// key after other lines. ssh hands PEM files to OpenSSL, which skips every
// line before "-----BEGIN ...": "Bag Attributes" from openssl pkcs12, a
// comment or a blank line first make no difference to ssh -i.
func holdsPrivateKey(head string) bool {
	for _, m := range privateKeyMarkers {
		if strings.HasPrefix(head, m) || strings.HasPrefix(m, "-----") && strings.Contains(head, "\n"+m) {
			return true
		}
	}
	return false
}

// publicKeyMarkers start the public key files ssh reads: OpenSSH's one
// line (ssh-ed25519 AAAA..., ecdsa-sha2-..., sk-...; certificates too)
// and RFC 4716's. An IdentityFile may name one (IdentitiesOnly with an
// agent that holds the private key: 1Password, Secretive, a token):
// ssh reads it to pick the agent's key, and it is no secret.
var publicKeyMarkers = []string{"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-", "---- BEGIN SSH2 PUBLIC KEY"}

// envPath returns the path a tool takes a credential variable's value v
// for: a relative one from the working directory the command starts in
// (KUBECONFIG=../kubecfg), a leading "~/" from $HOME (botocore expands
// AWS_SHARED_CREDENTIALS_FILE='~/x' itself); false for an empty value or
// one fence cannot place.
func (s *Spec) envPath(v string) (string, bool) {
	switch {
	case v == "":
		return "", false
	case filepath.IsAbs(v):
		return filepath.Clean(v), true
	case v == "~" || strings.HasPrefix(v, "~/"):
		if !filepath.IsAbs(s.Home) {
			return "", false
		}
		return filepath.Join(s.Home, v[1:]), true
	case strings.HasPrefix(v, "~"):
		return "", false // ~user: another user's home
	case filepath.IsAbs(s.Cwd):
		return filepath.Join(s.Cwd, v), true
	}
	return "", false
}

// gnupgSecrets are the files of a GnuPG home that hold secret keys
// (GnuPG 2.1 and later, and GnuPG 1), hidden when the home itself cannot
// be (credentials).
var gnupgSecrets = []string{"private-keys-v1.d", "secring.gpg"}

// holdsWork reports whether the absolute path p, as given or as it
// resolves, is the working directory or $HOME (as given or resolved), or
// a directory above one of them.
func (s *Spec) holdsWork(p string) bool {
	ps := []string{p}
	if r, err := s.paths.eval(p); err == nil && r != p {
		ps = append(ps, r)
	}
	for _, w := range []string{s.Cwd, s.Home} {
		if w == "" || !filepath.IsAbs(w) {
			continue
		}
		if underAny(w, ps) {
			return true
		}
		if r, err := s.paths.eval(w); err == nil && underAny(r, ps) {
			return true
		}
	}
	return false
}

// credentialOwnDir returns the config path within which a read grant
// lifts the mask of the credential path cp (see credentialLifted): the
// directory of the tool it belongs to (~/.ssh for ~/.ssh/id_*, ~/.aws for
// ~/.aws/sso/cache, ~/.config/gh for gh's tokens), or cp itself when it
// lies directly in $HOME, ~/.config or ~/Library, which hold far more
// than credentials.
func credentialOwnDir(cp string) string {
	rest, ok := strings.CutPrefix(cp, "~/")
	if !ok {
		return path.Dir(cp)
	}
	base := "~"
	for _, top := range []string{".config", "Library"} {
		if r, ok := strings.CutPrefix(rest, top+"/"); ok {
			base, rest = base+"/"+top, r
			break
		}
	}
	tool, _, deeper := strings.Cut(rest, "/")
	if !deeper {
		return cp
	}
	return base + "/" + tool
}

// credentialDirs returns own (credential.own) as an absolute path, as
// given and as it resolves.
func (s *Spec) credentialDirs(own string) []string {
	abs := literalPrefix(s.configPattern(own))
	if abs == "" {
		return nil
	}
	out := []string{abs}
	if r, err := s.paths.eval(abs); err == nil && r != abs {
		out = append(out, r)
	}
	return out
}

// credentialLifted reports whether one of grants lifts the credential
// mask of c (a credential path, or the literal start of a pattern of
// them): a grant at or above c, and at or below one of c's own
// directories. allowRead ["~/.ssh"] or ["~/.aws/credentials"] lifts a mask;
// ["~"], ["~/.config"] or ["/"] do not: under defaultDenyRead they ask
// for the home or the configuration to be readable, not for its keys.
func credentialLifted(c string, grants, own []string) bool {
	for _, g := range grants {
		if underAny(c, []string{g}) && underAny(g, own) {
			return true
		}
	}
	return false
}

// expandGrants expands paths that grant access: what cannot be resolved is
// not granted.
func (s *Spec) expandGrants(ps []string) []string {
	var out []string
	for _, p := range ps {
		r, _ := s.expand(p, nil)
		out = append(out, r...)
	}
	return out
}

// errOwnPath is grantPaths' answer for an entry that names the sandbox's
// own /proc or /dev as written: it grants nothing more.
var errOwnPath = errors.New("the sandbox's own")

// grantPaths returns the paths the grant entry w (of the config list
// field) resolves to (expandGrants), less those of the sandbox's own /proc
// and /dev, judged (systemGrant) as written (/dev/stdout is the sandbox's
// own, wherever fence's own stdout leads) and where they lead
// (~/.node_repl_history -> /dev/null). errOwnPath: w names them as
// written.
func (s *Spec) grantPaths(field, w string, write bool) ([]string, error) {
	if own, err := s.systemGrant(field, w, config.ExpandPath(w, s.Home, s.Cwd), write); err != nil || own {
		if err == nil {
			err = errOwnPath
		}
		return nil, err
	}
	var out []string
	for _, r := range s.expandGrants([]string{w}) {
		own, err := s.systemGrant(field, w, r, write)
		if err != nil {
			return nil, err
		}
		if !own {
			out = append(out, r)
		}
	}
	return out, nil
}

// systemGrant judges p, the grant entry w of the config list field as
// written or a path it resolves to, where p is in /proc, /dev or /sys:
// own reports a path of the sandbox's own /proc or /dev, which it has
// already (readable, and the device nodes writable), and the entry is
// then left out; an error refuses the entry. Bound from the host, either
// went wrong: the host's procfs over the sandbox's showed the host's
// processes, and writable it let a sandbox run by root change the kernel's
// settings (/proc/sys) and other processes' (oom_score_adj); a host device
// node is bound nodev, unusable (allowWrite "/dev/null" made every
// redirection to /dev/null fail), and "/dev" or "/dev/pts" hid the
// sandbox's nodes or terminals behind the host's. /sys stays the host's,
// read-only: writable, a sandbox run by root could change kernel settings
// there too. The host's /dev/shm is bound as asked for writing.
func (s *Spec) systemGrant(field, w, p string, write bool) (own bool, err error) {
	from := fromParen(s.from(field, w))
	switch {
	case underAny(p, []string{"/proc"}):
		if !write {
			s.logf("%s %q: %s is the sandbox's own /proc, readable already", field, w, p)
			return true, nil
		}
		return false, fmt.Errorf("%s %q%s: the sandbox has a /proc of its own, for its own processes, never the host's; remove the entry", field, w, from)
	case underAny(p, []string{"/sys"}):
		if !write {
			return false, nil
		}
		return false, fmt.Errorf("%s %q%s: /sys stays read-only in the sandbox (writable, it would let a sandbox run by root change the kernel's settings); remove the entry", field, w, from)
	case !underAny(p, []string{"/dev"}), (write || p != "/dev/shm") && underAny(p, []string{"/dev/shm"}):
		return false, nil // the host's /dev/shm, or what is in it, bound as asked
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(p, "/dev/"), "/")
	if !write && (p == "/dev" || p == "/dev/shm") || p != "/dev" && (name == "pts" || slices.Contains(nsexec.DevNodes[:], name) ||
		slices.ContainsFunc(nsexec.DevLinks[:], func(l [2]string) bool { return l[1] == name })) {
		s.logf("%s %q: %s is the sandbox's own, there already", field, w, p)
		return true, nil
	}
	fix := "remove the entry"
	if write {
		fix += `, or list "/dev/shm" for the host's shared memory`
	}
	return false, fmt.Errorf("%s %q%s: the sandbox has a /dev of its own, without the host's devices; its %s, pts and shm are there already, writable; %s",
		field, w, from, strings.Join(nsexec.DevNodes[:], ", "), fix)
}

// expandDenials expands paths that hide or protect, in the config list
// named by what; a path that exists but cannot be looked up stops the
// plan, since the sandbox would otherwise run without that restriction.
// writable are the paths writable in the sandbox (see failure).
func (s *Spec) expandDenials(what string, ps, writable []string) ([]string, error) {
	var out []string
	for _, p := range ps {
		r, err := s.expand(p, writable)
		if err != nil {
			return nil, denialError(what, p, err)
		}
		out = append(out, r...)
	}
	return out, nil
}

// shownByRootOnly reports whether, of what a defaultDenyRead policy fp
// shows, only "/" (allowRead "/") holds p, a path in the host's /tmp: no
// entry in /tmp, which would be bound into the private /tmp.
func shownByRootOnly(p string, fp nsexec.FSPolicy) bool {
	if !slices.Contains(fp.ReadOnly, "/") {
		return false
	}
	for _, l := range [][]string{fp.ReadOnly, fp.Writable} {
		for _, e := range l {
			if e != "/" && underAny(p, []string{e}) {
				return false
			}
		}
	}
	return true
}

// shellDenied refuses sh, the shell fence runs the command line with, if
// it is among the programs masked in the sandbox (noExec): as found in its
// directory as it resolves, or where it leads (sh -> dash, "dash" denied).
func (s *Spec) shellDenied(sh string, noExec []string) error {
	if len(noExec) == 0 {
		return nil
	}
	found := []string{sh}
	if d, err := s.paths.eval(filepath.Dir(sh)); err == nil {
		found = append(found, filepath.Join(d, filepath.Base(sh)))
	}
	if r, err := s.paths.eval(sh); err == nil {
		found = append(found, r)
	}
	for _, p := range found {
		if slices.Contains(noExec, p) {
			return fmt.Errorf("fence runs this command line with the shell %s, which command.deny%s denies in the sandbox (%s); choose another shell with --shell, or give the program and its arguments after --", sh, fromParen(s.from("command.deny", nil)), p)
		}
	}
	return nil
}

// rootDenied is the refusal of a denyRead entry among entries that hides
// "/", the whole tree ("/", "~" where the home is "/", "." run from "/", a
// symlink to "/").
func (s *Spec) rootDenied(entries, writable []string) error {
	entry := "/"
	for _, p := range entries {
		if r, err := s.expand(p, writable); err == nil && slices.Contains(r, "/") {
			entry = p
			break
		}
	}
	return fmt.Errorf("filesystem.denyRead %q%s hides \"/\", every file, the command included: nothing could run; to hide all but what you list, use \"defaultDenyRead\": true with filesystem.allowRead", entry, fromParen(s.from("filesystem.denyRead", entry)))
}

// denialError is the one-line refusal for entry p of list what whose
// lookup failed with err: the entry, the cause and the fix.
func denialError(what, p string, err error) error {
	fix := "fix the file system"
	var sd *searchDenied
	var pe *fs.PathError
	switch {
	case errors.As(err, &sd):
		fix = "make " + sd.dir + " searchable (chmod u+x)"
	case errors.Is(err, errUnlistable) && errors.As(err, &pe):
		fix = "make " + pe.Path + " readable (chmod u+r)"
	}
	switch {
	case strings.HasPrefix(what, "filesystem."):
		fix += " or remove the entry"
	case what == "the credential path":
		fix += " or list it in allowRead"
	}
	msg := fmt.Sprintf("%s %q: cannot check it (%v); fence will not run without it: %s", what, p, err, fix)
	// Host paths in the cause could hold a newline; the error is one line.
	return &lineError{msg: strings.ReplaceAll(msg, "\n", `\n`), err: err}
}

// changeableOf returns what the command could chmod under policy fp: the
// paths writable to it.
func changeableOf(fp nsexec.FSPolicy) []string {
	w := slices.Clone(fp.Writable)
	if fp.HostTmp {
		w = append(w, "/tmp")
	}
	return w
}

// lineError is an error whose message was made one line.
type lineError struct {
	msg string
	err error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.err }

// dangerousPaths returns DangerousFiles in the working directory and in
// $HOME, DangerousDirs in the working directory, DangerousHomePaths in
// $HOME, zsh's start-up files in its directories (zshDirs), and
// DangerousConfigDirs (with vscodeUserFiles), DangerousDataDirs,
// DangerousStateDirs and DangerousCacheDirs in the user's XDG directories.
func (s *Spec) dangerousPaths() []string {
	var out []string
	in := func(dir string, names []string) {
		if dir == "" {
			return
		}
		for _, n := range names {
			out = append(out, filepath.Join(dir, n))
		}
	}
	in(s.Cwd, DangerousFiles)
	in(s.Home, DangerousFiles)
	in(s.Cwd, DangerousDirs)
	// go's env file where $GOENV moves it, as go/env in the configuration
	// directories (GOFLAGS=-toolexec runs a program at every build).
	if f := s.envDir("GOENV"); f != "" {
		out = append(out, f)
	}
	out = append(out, s.agentProjectPaths(s.Cwd)...)
	in(s.Home, DangerousHomePaths)
	// In $HOME, DangerousFiles has the plain ones already.
	in(s.Home, slices.DeleteFunc(slices.Clone(zshFiles), func(n string) bool { return slices.Contains(DangerousFiles, n) }))
	for _, d := range s.zshDirs() {
		in(d, zshFiles)
	}
	for _, d := range s.xdgDirs("XDG_CONFIG_HOME", ".config") {
		in(d, DangerousConfigDirs)
		in(d, vscodeUserFiles())
	}
	for _, d := range s.xdgDirs("XDG_DATA_HOME", ".local/share") {
		in(d, DangerousDataDirs)
	}
	for _, d := range s.xdgDirs("XDG_STATE_HOME", ".local/state") {
		in(d, DangerousStateDirs)
	}
	for _, d := range s.xdgDirs("XDG_CACHE_HOME", ".cache") {
		in(d, DangerousCacheDirs)
	}
	// The home of the account fence runs as, where $HOME is elsewhere (a
	// fresh HOME=$(mktemp -d) for an agent; sudo -E): its start-up files
	// are what the user's next login and shell run as much as $HOME's,
	// and with that home writable (-t code started in it) they were the
	// command's to change, but for the working directory's few names.
	// As credentials hides its keys. At the XDG defaults there: the XDG
	// variables are $HOME's.
	if h := s.accountHome(); h != "" {
		in(h, DangerousFiles)
		in(h, DangerousHomePaths)
		in(h, slices.DeleteFunc(slices.Clone(zshFiles), func(n string) bool { return slices.Contains(DangerousFiles, n) }))
		in(filepath.Join(h, ".config"), DangerousConfigDirs)
		in(filepath.Join(h, ".config"), vscodeUserFiles())
		in(filepath.Join(h, ".local/share"), DangerousDataDirs)
		in(filepath.Join(h, ".local/state"), DangerousStateDirs)
		in(filepath.Join(h, ".cache"), DangerousCacheDirs)
	}
	return out
}

// agentProjectPaths returns agentProjectDirs in dir, less an agent's own
// home (agentHome).
func (s *Spec) agentProjectPaths(dir string) []string {
	var out []string
	for _, n := range agentProjectDirs {
		if p := filepath.Join(dir, n); !s.agentHome(p, dir) {
			out = append(out, p)
		}
	}
	return out
}

// agentHome reports whether p is, holds, or is in the directory where an
// agent of agentProjectDirs keeps its own state: ~/.codex, ~/.claude,
// ~/.gemini, ~/.cursor, or $CODEX_HOME or $CLAUDE_CONFIG_DIR (relative to
// the working directory, as the agents take them; where their symlinks
// lead too). p is in dir, the project: a home at or above dir holds the
// project, not the agent's files (CODEX_HOME=$HOME or CLAUDE_CONFIG_DIR=.
// made every agent's project settings there writable), so only a home
// below dir counts for a p inside it (~/.claude/settings.json, fence
// started in $HOME).
func (s *Spec) agentHome(p, dir string) bool {
	var homes []string
	if s.Home != "" {
		for _, n := range []string{".codex", ".claude", ".gemini", ".cursor"} {
			homes = append(homes, filepath.Join(s.Home, n))
		}
	}
	env := s.commandEnv() // fence -- CODEX_HOME=$PWD/.codex codex
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if (k == "CODEX_HOME" || k == "CLAUDE_CONFIG_DIR") && v != "" {
			if !filepath.IsAbs(v) {
				v = filepath.Join(s.Cwd, v)
			}
			homes = append(homes, filepath.Clean(v))
			if r, err := filepath.EvalSymlinks(v); err == nil {
				homes = append(homes, r)
			}
		}
	}
	sep := string(filepath.Separator)
	for _, h := range homes {
		if h == p || strings.HasPrefix(h, p+sep) || strings.HasPrefix(p, h+sep) && strings.HasPrefix(h, dir+sep) {
			return true
		}
	}
	return false
}

// xdgDirs returns the XDG base directory in env var name (xdgDir) and the
// default def under $HOME if that differs: both are protected, since
// systemd and the desktop session usually do not see a shell's
// XDG_CONFIG_HOME.
func (s *Spec) xdgDirs(name, def string) []string {
	var out []string
	if d := s.xdgDir(name, def); d != "" {
		out = append(out, d)
	}
	if s.Home != "" {
		if d := filepath.Join(s.Home, def); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// zshDirs returns where zsh may read its start-up files from besides
// $HOME: $ZDOTDIR if fence's environment has it, and zsh/ in the
// configuration directories, where it usually points (set in ~/.zshenv,
// which fence cannot see).
func (s *Spec) zshDirs() []string {
	var out []string
	if d := s.envDir("ZDOTDIR"); d != "" {
		out = append(out, d)
	}
	for _, d := range s.xdgDirs("XDG_CONFIG_HOME", ".config") {
		if d = filepath.Join(d, "zsh"); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// zshDumpPatterns returns the patterns of the files zsh sources that
// tools write for it: completion dumps in $HOME and zsh's directories
// (zshDump), and in the cache directories (where `compinit -d` is usually
// pointed, and prezto's), and powerlevel10k's instant prompt, which a
// .zshrc sources first. Existing ones are protected like the dangerous
// paths, and no new one may be created (a pattern, which the creation
// guard checks at every creation). Globs in the last component only.
func (s *Spec) zshDumpPatterns() []string {
	var out []string
	for _, d := range append([]string{s.Home}, s.zshDirs()...) {
		if d != "" {
			out = append(out, filepath.Join(d, zshDump))
		}
	}
	for _, d := range s.xdgDirs("XDG_CACHE_HOME", ".cache") {
		// oh-my-posh's init scripts: `oh-my-posh init SHELL` in a
		// start-up file writes one there and has the shell source it.
		for _, p := range []string{"zsh/" + zshDump, "zsh/zcompdump*", "prezto/zcompdump*", "p10k-instant-prompt-*.zsh", "p10k-dump-*.zsh", "oh-my-posh/init.*"} {
			out = append(out, filepath.Join(d, p))
		}
	}
	return out
}

// createdRecordPath is the record of created files (created_linux.go):
// $XDG_STATE_HOME/fence/created.json, by default under ~/.local/state, or
// "" without a home.
func (s *Spec) createdRecordPath() string {
	d := s.xdgDir("XDG_STATE_HOME", ".local/state")
	if d == "" {
		return ""
	}
	return filepath.Join(d, "fence", "created.json")
}

// xdgDir is the XDG base directory in env var name if it is absolute,
// else def under the home directory, or "" without a home.
func (s *Spec) xdgDir(name, def string) string {
	if d := s.envDir(name); d != "" {
		return d
	}
	if s.Home == "" {
		return ""
	}
	return filepath.Join(s.Home, def)
}

// envDir is the directory in env var name if it is absolute, else "".
func (s *Spec) envDir(name string) string {
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok && filepath.IsAbs(v) {
			return filepath.Clean(v)
		}
	}
	return ""
}

// gitPaths returns what git, run later in the working directory, reads
// configuration or runs hooks from, beyond .git/hooks (DangerousDirs):
//   - .git/config, .git/config.worktree and the configs of submodules and
//     linked worktrees (.git/modules/*, .git/worktrees/*), unless
//     allowConfig (allowGitConfig);
//   - .git/commondir, which moves the whole repository elsewhere, and the
//     submodules' hooks;
//   - when .git is a file (a linked worktree or a submodule's checkout as
//     the working directory): the file itself, which names the git
//     directory, and the same paths in that directory and in its common
//     directory;
//   - in a subdirectory of a repository, the same for the repository's
//     .git, hooks included.
//
// A .git that cannot be read is taken as absent: its lookup as a
// protected path (.git/hooks) fails the plan.
//
// With them come the files that the user's global git configs and the
// protected configs above include (gitIncludes), wherever they are.
func (s *Spec) gitPaths(allowConfig bool) (paths, unlistable []string, err error) {
	out, unlistable, err := s.repoGitPaths(allowConfig)
	if err != nil {
		return nil, nil, err
	}
	configs := s.globalGitConfigs()
	if !allowConfig {
		for _, p := range out {
			if b := filepath.Base(p); b == "config" || b == "config.worktree" {
				configs = append(configs, p)
			}
		}
	}
	inc, hooks, err := s.gitConfigWalk(configs)
	if err != nil {
		return nil, nil, err
	}
	if g := s.envDir("GIT_CONFIG_GLOBAL"); g != "" {
		out = append(out, g) // git's global config in place of ~/.gitconfig
	}
	var root string
	var dirs []string
	if dot, ds := s.findGit(); dot != "" {
		root = filepath.Dir(dot)
		dirs = ds
		for _, d := range ds {
			ws, _, _, err := linkedWorktreesOf(d)
			if err != nil {
				return nil, nil, err
			}
			dirs = append(dirs, ws...)
		}
	}
	out = slices.Concat(out, inc, hooksDirs(root, hooks))
	// A relative core.hooksPath (husky's .husky/_) is taken from the
	// top of the checkout git runs in: in each linked worktree's too,
	// where the sandbox planted .claude/worktrees/x/.husky/_/pre-commit,
	// which the next commit there outside ran.
	for _, t := range checkoutTops(dirs) {
		if t != root {
			out = append(out, hooksDirs(t, hooks)...)
		}
	}
	// What the hooks that are symlinks lead to: in the working
	// directory's .git/hooks (DangerousDirs) and every hooks directory
	// above (those that are not directories hold none).
	targets, err := hookTargets(append([]string{filepath.Join(s.Cwd, ".git", "hooks")}, out...))
	if err != nil {
		return nil, nil, err
	}
	return append(out, targets...), unlistable, nil
}

// checkoutTops returns the tops of the work trees whose git directories
// are dirs: a .git directory's parent, a linked worktree's checkout as
// its gitdir file names it (there or not).
func checkoutTops(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		t := ""
		if filepath.Base(d) == ".git" {
			t = filepath.Dir(d)
		} else if p := readGitLink(filepath.Join(d, "gitdir"), ""); p != "" {
			t = filepath.Dir(p)
		}
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// childRepoPaths returns what is protected of the repositories one level
// below the working directory (started in ~/src, which holds proj/.git),
// as of the working directory's own, since the next git commit or editor
// session in proj, outside the sandbox, runs what is there: their git
// directories' hooks and configs (gitDirPaths), the files those configs
// include, their core.hooksPath directories (a relative one, the global
// config's too, taken from the repository's top), their submodules' .git,
// and childRepoFiles in their work trees. Directories the walk could not
// list come in unlistable. On Linux these are the write guard's patterns,
// not read-only binds: a directory of a hundred repositories made three
// hundred mounts, 37 ms of every start.
func (s *Spec) childRepoPaths(allowConfig bool) (out, unlistable []string, err error) {
	var hooks []string
	if s.childRepos(); s.childErr != nil {
		return nil, nil, s.childErr
	}
	if len(s.childRepos()) > 0 {
		// core.hooksPath of the global configs applies in every
		// repository; relative, from each one's top.
		if _, hooks, err = s.gitConfigWalk(s.globalGitConfigs()); err != nil {
			return nil, nil, err
		}
	}
	for _, dot := range s.childRepos() {
		top, bare := childTop(dot)
		if !bare { // a bare repository has no work tree; git writes its HEAD
			for _, n := range childRepoFiles {
				out = append(out, filepath.Join(top, n))
			}
			out = append(out, s.agentProjectPaths(top)...)
		}
		dirs, files, us, err := childGitDirs(dot)
		if err != nil {
			return nil, nil, err
		}
		out, unlistable = append(out, files...), append(unlistable, us...)
		var ps []string
		for _, d := range dirs {
			p, us := gitDirPaths(d, "", allowConfig)
			ps, unlistable = append(ps, p...), append(unlistable, us...)
		}
		out = append(out, ps...)
		var cfgs []string
		if !allowConfig {
			for _, p := range ps {
				if b := filepath.Base(p); b == "config" || b == "config.worktree" {
					cfgs = append(cfgs, p)
				}
			}
			// The .git of each submodule checkout, as repoGitPaths.
			var sms []submodule
			if !bare {
				if sms, err = submodules(filepath.Join(top, ".gitmodules")); err != nil {
					return nil, nil, err
				}
			}
			for _, sm := range sms {
				out = append(out, filepath.Join(top, sm.path, ".git"))
			}
		}
		inc, chooks, err := s.gitConfigWalk(cfgs)
		if err != nil {
			return nil, nil, err
		}
		all := slices.Concat(hooks, chooks)
		hds := hooksDirs(top, all)
		// A relative one from each linked worktree's top too, where git
		// runs hooks there (gitPaths).
		for _, t := range checkoutTops(dirs) {
			if t != top {
				hds = append(hds, hooksDirs(t, all)...)
			}
		}
		// What the hooks that are symlinks lead to, as gitPaths: in the
		// git directories' hooks and the core.hooksPath directories.
		scan := slices.Clone(hds)
		for _, p := range ps {
			if filepath.Base(p) == "hooks" {
				scan = append(scan, p)
			}
		}
		targets, err := hookTargets(scan)
		if err != nil {
			return nil, nil, err
		}
		out = slices.Concat(out, inc, hds, targets)
	}
	return out, unlistable, nil
}

// protectChildRepos makes childRepoPaths the write guard's patterns, as
// given and where they lead, each path and what is below it, and holds
// the directories above them in the writable tree (no rename carries one
// away to be changed and brought back).
func (s *Spec) protectChildRepos(fp *nsexec.FSPolicy, allowConfig bool, changeable []string) error {
	ps, unlistable, err := s.childRepoPaths(allowConfig)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	add := func(p string) {
		fp.ProtectedPatterns = append(fp.ProtectedPatterns, pathglob.Literal(p), pathglob.Literal(p)+"/**")
		for d := filepath.Dir(p); d != "/" && underAny(d, fp.Writable) && !slices.Contains(fp.Writable, d); d = filepath.Dir(d) {
			if !held[d] {
				held[d] = true
				fp.Held = append(fp.Held, d)
			}
		}
	}
	for _, p := range slices.Concat(ps, unlistable) {
		add(p)
		res, exists, err := s.paths.evalPartial(p, changeable)
		if err != nil {
			return denialError("the protected path", p, err)
		}
		if res != p {
			add(res)
		}
		// And p's own name as the write guard sees it, its directory
		// resolved ("..", taken after the links before it as the
		// kernel takes it, included): the guard matches paths that
		// hold no "..", and res is what a final symlink leads to. A
		// hook's target or an included config given with ".."
		// (proj/.git/hooks/../../tools/commit-msg, proj/.git/../inc.cfg)
		// that is a link itself was kept by no pattern: it could be
		// removed and made again as a script or config of the
		// sandbox's, which git in proj, outside, then ran.
		if c := s.paths.canonicalName(p); c != "" && c != p && c != res {
			add(c)
		}
		// The write guard does not see chmod: a hook the user left
		// without its execute bit (turned off) could be made to run.
		// A directory holding one is bound read-only instead.
		if exists && underAny(res, changeable) && holdsDisabledHook(res) {
			fp.Protected = append(fp.Protected, res)
		}
	}
	// The names that decide which git directory git in proj finds, alone
	// (not what is below them, which git writes): each .git, and a
	// repository's top that is a symlink (removed, then made again with a
	// .git file of the sandbox's). Without a repository of its own the
	// working directory can hold neither .git nor HEAD: git in proj, its
	// .git/HEAD broken, would go on up and take that one.
	var marks []string
	for _, dot := range s.childRepos() {
		marks = append(marks, dot) // a bare repository's directory itself
		if top, bare := childTop(dot); !bare {
			if st, err := os.Lstat(top); err == nil && st.Mode()&fs.ModeSymlink != 0 {
				marks = append(marks, top)
			}
		}
	}
	if len(marks) > 0 {
		if dot, _ := s.findGit(); dot == "" {
			marks = append(marks, filepath.Join(s.Cwd, ".git"), filepath.Join(s.Cwd, "HEAD"))
		}
	}
	for _, p := range marks {
		fp.ProtectedPatterns = append(fp.ProtectedPatterns, pathglob.Literal(p))
	}
	return nil
}

// homeBinDirs are the directories of DangerousHomePaths that hold the
// programs the user's shell finds first.
var homeBinDirs = []string{".local/bin", "bin", ".cargo/bin", ".bun/bin"}

// protectBinTargets makes the files that the symlinks in the user's bin
// directories (homeBinDirs) lead to the write guard's patterns, where they
// lie in a writable path, and holds the directories above them there.
// The bin directory keeps its links, not what they lead to: Claude Code's
// native install is ~/.local/bin/claude -> ~/.local/share/claude/versions/V,
// a single executable that -t code's ~/.local/share made writable, and a
// program the sandbox wrote there was what the user's next `claude`,
// outside, ran. As for hooks (hookTargets), the file alone: what it loads
// from beside it (a tool's virtualenv, cursor-agent's index.js) is not
// covered. Every name the link's resolution looks up there is held too
// (a symlink on the way, a file it leads to that is not there yet), as a
// granting entry's are (heldGrants). A link to a directory is skipped.
func (s *Spec) protectBinTargets(fp *nsexec.FSPolicy) {
	// $HOME's, and the account's own home's where $HOME is elsewhere
	// (dangerousPaths).
	var homes []string
	for _, h := range []string{s.Home, s.accountHome()} {
		if h != "" {
			homes = append(homes, h)
		}
	}
	if len(homes) == 0 {
		return
	}
	changeable := changeableOf(*fp)
	held, protected := map[string]bool{}, map[string]bool{}
	// The links of a directory mostly lead to a few files (rustup's
	// proxies all to rustup, pipx's into its venvs): each name is looked
	// up once (lookups), each file decided once.
	memo := lookups{}
	regular := map[string]bool{} // a link's last name: a file, or none yet
	for _, b := range homeBinDirs {
		for _, h := range homes {
			d := filepath.Join(h, b)
			ents, err := os.ReadDir(d)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if e.Type()&fs.ModeSymlink == 0 {
					continue
				}
				// Every name the link's resolution looks up, the file it
				// ends at last: a symlink on the way in a writable path
				// (~/.local/share/tool/current -> versions/V) made again
				// leading elsewhere, or a file the link leads to that does
				// not exist yet, made there, was what the user's next run
				// of the program ran as much as a rewritten file.
				names := lookedUpIn(filepath.Join(d, e.Name()), memo)
				if len(names) == 0 {
					continue
				}
				t := names[len(names)-1]
				ok, seen := regular[t]
				if !seen {
					st, err := os.Stat(t)
					ok = err == nil && st.Mode().IsRegular() || errors.Is(err, fs.ErrNotExist)
					regular[t] = ok
				}
				if !ok {
					continue
				}
				for i, n := range names {
					if !underAny(n, changeable) || slices.Contains(changeable, n) {
						continue
					}
					if i < len(names)-1 && memo.dirOrMissing(n) {
						if !held[n] {
							held[n] = true
							fp.Held = append(fp.Held, n)
						}
						continue
					}
					if !protected[n] {
						protected[n] = true
						fp.ProtectedPatterns = append(fp.ProtectedPatterns, pathglob.Literal(n))
					}
				}
			}
		}
	}
}

// childGitDirs returns the git directories of the repository below the
// working directory whose .git is dot (childRepos), the files besides
// them that lead git there, and the directories it could not list.
func childGitDirs(dot string) (dirs, files, unlistable []string, err error) {
	// A .git file (a sibling's linked worktree, a repository made
	// with --separate-git-dir) leads to git directories of its own:
	// the file and what it leads to, as for the working directory's.
	dirs, _ = gitDirsOf(dot)
	if st, err := os.Stat(dot); err == nil && st.IsDir() {
		dirs = []string{dot} // a .git that is a symlink to one too
	} else {
		files = append(files, dot)
		// One that cannot be read stops fence (unreadableOwn), as
		// does its git directory's commondir.
		g, err := gitLink(dot, "gitdir: ")
		if err == nil && g != "" {
			_, err = gitLink(filepath.Join(g, "commondir"), "")
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	// The linked worktrees of those git directories, wherever their
	// checkouts are (~/worktrees/proj-x, or proj/.claude/worktrees/x
	// inside proj): git in a checkout reads the common directory its
	// worktrees/NAME/commondir names (NAME's own config and hooks
	// without one), and gets to NAME by the checkout's .git file,
	// which NAME/gitdir names. The sandbox rewrote that commondir or
	// .git file to lead to a repository of its own, whose fsmonitor
	// the next git status in the checkout ran outside.
	var wts []string
	for _, d := range dirs {
		ws, wf, us, err := linkedWorktreesOf(d)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, w := range ws {
			if !slices.Contains(dirs, w) && !slices.Contains(wts, w) {
				wts = append(wts, w)
			}
		}
		files, unlistable = append(files, wf...), append(unlistable, us...)
	}
	return append(dirs, wts...), files, unlistable, nil
}

// linkedWorktreesOf returns the linked worktrees' git directories in the
// git directory dir (dir/worktrees/NAME), and for each the files that
// lead a checkout to it: NAME/gitdir and the checkout's .git file it
// names (there or not: a checkout away for now comes back to it); and
// dir/worktrees if it cannot be listed.
func linkedWorktreesOf(dir string) (gitDirs, files, unlistable []string, err error) {
	wt := filepath.Join(dir, "worktrees")
	es, rerr := os.ReadDir(wt)
	if errors.Is(rerr, fs.ErrNotExist) || errors.Is(rerr, syscall.ENOTDIR) {
		return nil, nil, nil, nil
	}
	if rerr != nil {
		return nil, nil, []string{wt}, nil
	}
	for _, e := range es {
		w := filepath.Join(wt, e.Name())
		if st, err := os.Stat(w); err != nil || !st.IsDir() {
			continue
		}
		gitDirs = append(gitDirs, w)
		files = append(files, filepath.Join(w, "gitdir"))
		p, err := gitLink(filepath.Join(w, "gitdir"), "")
		if err != nil {
			return nil, nil, nil, err
		}
		if p != "" {
			files = append(files, p)
		}
	}
	return gitDirs, files, nil, nil
}

// holdsDisabledHook reports whether dir holds a regular file named like
// a hook (no dot: pre-commit, not pre-commit.sample) that has no execute
// bit, which git skips until it has one.
func holdsDisabledHook(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.Contains(e.Name(), ".") {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode()&0o111 == 0 {
			return true
		}
	}
	return false
}

// gitAbove returns .git and HEAD in each writable directory above the
// top of the working directory's repository: git there, its .git/HEAD
// broken (git writes it, so it stays writable), goes on up and takes the
// first .git (or bare repository) it finds, whose config it then reads
// outside the sandbox too (an fsmonitor or pager command runs at the next
// git status). The working directory up to the top has them guarded
// already (PolicyMarkers, bareRepoHeads). Writable counts the host's /tmp
// that allowWrite lists (changeableOf): -t code does, and a project under
// it had $HOME/.git or /tmp/x/.git made above it, its config run at the
// next git status there.
func (s *Spec) gitAbove(fp nsexec.FSPolicy) []string {
	dot, _ := s.findGit()
	if dot == "" {
		return nil
	}
	writable := changeableOf(fp)
	var out []string
	for d := filepath.Dir(filepath.Dir(dot)); underAny(d, writable); d = filepath.Dir(d) {
		out = append(out, filepath.Join(d, ".git"), filepath.Join(d, "HEAD"))
		if d == "/" {
			break
		}
	}
	return out
}

// childRepos returns the repositories directly below the working
// directory (DIR/.git for each directory DIR in it, or DIR itself for a
// bare repository: childTop), which the git protections cover as they
// cover the working directory's own.
func (s *Spec) childRepos() []string {
	if s.children != nil {
		return *s.children
	}
	var out []string
	s.children = &out
	if !filepath.IsAbs(s.Cwd) {
		return nil
	}
	// In a repository, a .git file below that leads into its git
	// directories is one of its linked worktrees or submodule checkouts,
	// which it accounts for (linkedWorktrees, repoGitPaths): one kept
	// here could not be removed. Any other .git file is a repository of
	// its own (a repository made with --separate-git-dir, a worktree of
	// another one), even inside the working directory's ($HOME a
	// dotfiles repository, ~/src a monorepo): the sandbox rewrote it to
	// lead to a repository of its own, whose config the next git status
	// there ran outside.
	_, own := s.findGit()
	ownDirs := make([]string, 0, len(own))
	for _, d := range own {
		if r, err := s.paths.eval(d); err == nil {
			d = r
		}
		ownDirs = append(ownDirs, d)
	}
	ownFile := func(dot string) bool {
		dirs, _ := gitDirsOf(dot)
		if len(ownDirs) == 0 || len(dirs) == 0 {
			return false
		}
		g := dirs[0]
		if r, err := s.paths.eval(g); err == nil {
			g = r
		}
		return underAny(g, ownDirs)
	}
	// chmod is not guarded: a run could make the working directory, or
	// a repository in it, impossible to list or search (chmod 300 .,
	// chmod 000 proj), so that the next run found no repository there,
	// made it searchable again, and planted proj/.git/hooks/pre-commit.
	// What cannot be looked up is taken for a repository (its protected
	// paths, which cannot be looked up either, then stop the plan where
	// the command could have done that: failure); a working directory of
	// ours that cannot be listed stops it here.
	ents, err := os.ReadDir(s.Cwd)
	if err != nil {
		if !absent(err) || ownDir(s.Cwd) {
			s.childErr = fmt.Errorf("list the working directory %s to protect the repositories in it: %w (make it readable: chmod u+r)", s.Cwd, err)
		}
		return nil
	}
	var made map[string]bool
	for _, e := range ents {
		if !e.IsDir() && e.Type() != fs.ModeSymlink {
			continue
		}
		// A repository: a .git directory, a symlink to one, or a .git
		// file (a linked worktree of a sibling, a repository made with
		// --separate-git-dir) that is not the working directory's
		// repository's.
		dot := filepath.Join(s.Cwd, e.Name(), ".git")
		st, err := os.Lstat(dot)
		// One of ours that cannot be looked up: see above.
		unknown := err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) && ownDir(filepath.Dir(dot))
		if err == nil && (st.IsDir() || st.Mode().IsRegular()) {
			// One an earlier sandbox made (git clone in the working
			// directory, a linked worktree of its own repository,
			// recorded) stays its own, as in the run that made it and
			// as at any depth (nsexec.FSPolicy.GitDirs).
			if made == nil {
				made = s.recordedGit()
			}
			if made[dot] {
				continue
			}
		}
		if err == nil && (st.IsDir() || st.Mode().IsRegular() && !ownFile(dot)) || unknown {
			out = append(out, dot)
		} else if st, err := os.Stat(dot); err == nil && st.IsDir() {
			out = append(out, dot)
		} else if dir := filepath.Dir(dot); isGitDir(dir) && !underAny(resolvedOr(&s.paths, dir), ownDirs) {
			// A bare repository (a local remote the user pushes to, the
			// .bare of a layout of worktrees), not the working
			// directory's own .git: the sandbox planted its hooks, and
			// the next git push to it outside ran them.
			out = append(out, dir)
		}
	}
	s.children = &out
	return out
}

// isGitDir reports whether git takes dir for a git directory, a bare
// repository where it finds one: HEAD, objects/ and refs/ in it
// (setup.c's is_git_directory).
func isGitDir(dir string) bool {
	head, err := os.Stat(filepath.Join(dir, "HEAD"))
	if err != nil || !head.Mode().IsRegular() {
		return false
	}
	for _, n := range []string{"objects", "refs"} {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// resolvedOr is p where its symlinks lead, or p if that cannot be told.
func resolvedOr(r *resolver, p string) string {
	if res, err := r.eval(p); err == nil {
		return res
	}
	return p
}

// childTop returns the top of the child repository whose .git (or, for a
// bare repository, git directory) is dot (childRepos), where git runs its
// hooks, and whether it is bare: then it has no work tree.
func childTop(dot string) (top string, bare bool) {
	if filepath.Base(dot) != ".git" {
		return dot, true
	}
	return filepath.Dir(dot), false
}

// gitDirsOf returns the git directories the .git at dot stands for:
// itself if it is a directory; for a .git file, the directory it names
// and that one's common directory. ok is false when there is no .git.
func gitDirsOf(dot string) (dirs []string, ok bool) {
	st, err := os.Lstat(dot)
	switch {
	case err != nil:
		return nil, false
	case st.IsDir():
		return []string{dot}, true
	case st.Mode().IsRegular():
		if g := readGitLink(dot, "gitdir: "); g != "" {
			dirs = append(dirs, g)
			if c := readGitLink(filepath.Join(g, "commondir"), ""); c != "" {
				dirs = append(dirs, c)
			}
		}
		return dirs, true
	}
	return nil, true
}

// hooksDirs returns the directories that the core.hooksPath values hooks
// (gitConfigWalk) name: git runs its hooks from there instead of
// .git/hooks, so they are protected as .git/hooks is. Husky points it into
// the work tree (".husky/_", which it git-ignores: a planted hook would
// not even show in git status). A relative one is taken from the top of
// the work tree, where git runs hooks; without a repository it names
// nothing fence can tell. A device (hooksPath = /dev/null, which turns
// hooks off) holds no hooks and is left alone.
func hooksDirs(root string, hooks []string) []string {
	var out []string
	for _, h := range hooks {
		if !filepath.IsAbs(h) {
			if root == "" {
				continue
			}
			// Unclean on purpose, as git's include paths: "a/../b" is
			// where the kernel takes it.
			h = strings.TrimSuffix(root, "/") + "/" + h
		}
		if fi, err := os.Stat(h); err == nil && fi.Mode()&os.ModeDevice != 0 {
			continue
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
			out = append(out, huskyHooks(h)...)
		}
	}
	return out
}

// hookTargets returns where the symlinks directly in the hooks
// directories dirs lead. Git runs a hook that is a symlink from its
// target, and what keeps a hooks directory (its read-only bind, the write
// guard's patterns) keeps the link, not the file it leads to: with
// .git/hooks/pre-commit -> ../../tools/pre-commit, a common set-up, the
// sandbox wrote tools/pre-commit, a file of the work tree, and the next
// git commit outside ran it. A relative target is taken from the
// directory as the kernel resolves it, unclean (as hooksDirs'): the
// caller resolves it as any protected path, and one that is missing
// cannot be made. A directory that is not there, or not a directory,
// holds none; one of the user's that cannot be listed stops fence (chmod
// is not guarded: a run could hide its links from the next).
func hookTargets(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			if st, serr := os.Stat(d); serr == nil && st.IsDir() && int(st.Sys().(*syscall.Stat_t).Uid) == os.Geteuid() {
				return nil, fmt.Errorf("list the hooks directory %s to protect what its symlinks lead to: %w (make it readable: chmod u+r)", d, err)
			}
			continue
		}
		real := ""
		for _, e := range ents {
			// Only what git runs: a link by another name, or to a
			// directory (a checkout can hold a .git with hooks/x ->
			// ../../..), must not make the work tree read-only.
			if e.Type()&fs.ModeSymlink == 0 || !slices.Contains(gitHookNames, e.Name()) {
				continue
			}
			if st, err := os.Stat(filepath.Join(d, e.Name())); err == nil && st.IsDir() {
				continue
			}
			t, err := os.Readlink(filepath.Join(d, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("read the hook %s to protect what it leads to: %w", filepath.Join(d, e.Name()), err)
			}
			if !filepath.IsAbs(t) {
				if real == "" {
					if real, err = filepath.EvalSymlinks(d); err != nil {
						return nil, fmt.Errorf("resolve the hooks directory %s to protect what its symlinks lead to: %w", d, err)
					}
				}
				t = strings.TrimSuffix(real, "/") + "/" + t
			}
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// canonicalName returns the absolute path p with its directory resolved
// (as filepath.EvalSymlinks does, which takes each ".." after the links
// before it; through r, which remembers what it looked up: a directory
// of many repositories resolved the same few directories hundreds of
// times) and its last name kept as it is, not followed; "" when the
// directory cannot be resolved (the caller resolves what is missing).
func (r *resolver) canonicalName(p string) string {
	i := strings.LastIndexByte(p, '/')
	base := p[i+1:]
	if base == "" || base == "." || base == ".." {
		return ""
	}
	dir, err := r.eval(p[:i+1])
	if err != nil {
		return ""
	}
	return filepath.Join(dir, base)
}

// bareRepoHeads returns the HEAD beside each .git of markers (see
// PolicyMarkers: the working directory up to the repository's root). To
// git a directory holding HEAD, objects/ and refs/ is a repository, a bare
// one, and git takes it when the .git beside it is not a valid one, which
// the sandbox can arrange (.git/HEAD, which git itself writes, stays
// writable). Its config would then be the one git reads, outside the
// sandbox too: pager and alias commands run at the next git status. With
// HEAD refused where .git is, no such repository can be made there.
func bareRepoHeads(markers []string) []string {
	out := make([]string, 0, len(markers))
	for _, m := range markers {
		if filepath.Base(m) == ".git" {
			out = append(out, filepath.Join(filepath.Dir(m), "HEAD"))
		}
	}
	return out
}

// gitHookNames are the hooks git runs (githooks(5)).
var gitHookNames = []string{
	"applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
	"prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge",
	"pre-push", "pre-receive", "update", "proc-receive", "post-receive", "post-update",
	"reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite", "sendemail-validate",
	"fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist", "p4-post-changelist",
	"p4-pre-submit", "post-index-change",
}

// huskyHooks returns, for a hooks directory that is husky's (9 and later:
// core.hooksPath = .husky/_, or DIR/_ holding husky's runner h), the hook
// scripts its stubs run: DIR/<hook>, one level up, ordinary files of the
// work tree that git would otherwise run at the next commit. DIR is what
// h takes, dirname(1) twice of the stub git ran: lexical, trailing slashes
// dropped (core.hooksPath = .husky/_/ runs .husky/pre-commit too), and a
// ".." left for the kernel, as hooksDirs leaves it.
func huskyHooks(hooksDir string) []string {
	d := strings.TrimRight(hooksDir, "/")
	i := strings.LastIndexByte(d, '/')
	if i < 0 || d[i+1:] != "_" {
		return nil
	}
	dir := strings.TrimRight(d[:i], "/")
	if dir == "" {
		dir = "/"
	}
	if filepath.Base(dir) != ".husky" {
		if fi, err := os.Lstat(d + "/h"); err != nil || !fi.Mode().IsRegular() {
			return nil
		}
	}
	out := make([]string, len(gitHookNames))
	for i, h := range gitHookNames {
		out[i] = strings.TrimSuffix(dir, "/") + "/" + h
	}
	return out
}

// repoGitPaths is gitPaths without the included files.
func (s *Spec) repoGitPaths(allowConfig bool) (out, unlistable []string, err error) {
	own := filepath.Join(s.Cwd, ".git")
	// Linked worktrees (.git/worktrees/*): linkedWorktrees.
	dot, dirs := s.findGit()
	if dot == "" {
		return nil, nil, nil
	}
	if len(dirs) == 0 || dirs[0] != dot {
		out = []string{dot} // a .git file (or something stranger)
	}
	for _, d := range dirs {
		ps, us := gitDirPaths(d, own, allowConfig)
		out, unlistable = append(out, ps...), append(unlistable, us...)
	}
	if len(dirs) == 2 {
		// A linked worktree's: the main checkout's index, which
		// worktreeGitDirs makes writable with the rest of the common
		// directory. A gitlink added there to a repository planted in
		// this worktree (inside the main checkout, as .claude/worktrees
		// are) would have git status in the main checkout run it; a
		// rebase's or cherry-pick's state planted there, its exec lines
		// at the next git rebase --continue.
		for _, n := range append([]string{"index"}, sequencerState...) {
			out = append(out, filepath.Join(dirs[1], n))
		}
	}
	if allowConfig {
		return out, unlistable, nil
	}
	// The submodules the repository names: the .git of each checkout,
	// which says where its git directory is. (New git directories of
	// submodules: fsPolicy's protected patterns. Both come with writing
	// .git/config: allowGitConfig.)
	root := filepath.Dir(dot)
	sms, err := submodules(filepath.Join(root, ".gitmodules"))
	if err != nil {
		return nil, nil, err
	}
	for _, sm := range sms {
		out = append(out, filepath.Join(root, sm.path, ".git"))
	}
	return out, unlistable, nil
}

// madeHomeDirs are the directories under $HOME that makeHomeDirs may
// make: the XDG base directories, and npm's cache and logs (the code
// template's ~/.npm/_cacache and ~/.npm/_logs), without which npm stops at
// its first mkdir of ~/.npm in a fresh home, and ends every error with
// "Log files were not written".
var madeHomeDirs = []string{".cache", ".config", ".local/share", ".local/state", ".npm/_cacache", ".npm/_logs"}

// makeHomeDirs makes the missing directories under $HOME of madeHomeDirs
// that allowWrite names ("~/.cache/**" or "~/.cache", as the code template
// does): a writable path is a bind of what exists, so in a fresh home (a
// container's) a tool's first mkdir of its cache failed with EROFS (go
// build in ~/.cache/go-build), where Seatbelt lets the command make it.
// Every user's tools expect these, and npm's cache means nothing to other
// programs; a tool's own directory (~/.claude, ~/.cargo/registry) is not
// made, as its mere presence may mean something to them, except the one
// named after the program fence runs (~/.claude for fence -t code --
// claude, ~/.codex for codex, ~/.gemini for gemini): that program makes it
// at its first start, and could not inside, where a fresh home broke it
// (codex stopped at its start, Claude Code's every shell call failed).
// Only in a home of the user's (not "/"); best effort: what cannot be made
// stays missing, and unwritable, as before.
func (s *Spec) makeHomeDirs(allowWrite []string) {
	home := filepath.Clean(s.Home)
	if !filepath.IsAbs(home) || home == "/" || !ownDir(home) {
		return
	}
	own := ""
	if prog := s.program(); prog != "" {
		own = "." + prog
	}
	for _, w := range allowWrite {
		rel, ok := strings.CutPrefix(strings.TrimSuffix(w, "/**"), "~/")
		if !ok || !slices.Contains(madeHomeDirs, filepath.Clean(rel)) && (own == "" || rel != own || !s.programFound()) {
			continue
		}
		// Component by component, each there a directory of ours (not
		// a symlink into another user's tree), each made one 0700, as
		// the XDG spec asks.
		p := home
		for _, c := range strings.Split(filepath.Clean(rel), "/") {
			p = filepath.Join(p, c)
			if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
				if err := os.Mkdir(p, 0o700); err != nil {
					s.logf("allowWrite %s: could not make the missing %s: %v", w, p, err)
					break
				}
				// Its directory's listing, if the plan made one, lacks
				// it: a lookup is to tell from now on.
				delete(s.paths.listed, filepath.Dir(p))
				s.logf("allowWrite %s: made the missing %s", w, p)
			} else if !ownDir(p) {
				break
			}
		}
	}
}

// commandEnv returns the command's environment: fence's, then the
// NAME=value words that lead its argv (fence -- GNUPGHOME=/x gpg), which
// a shell applies to the command.
func (s *Spec) commandEnv() []string {
	env := slices.Clone(s.Env)
	if s.Command == "" {
		for _, a := range s.Args {
			if !assignment(a) {
				break
			}
			env = append(env, a)
		}
	}
	return env
}

// firstWord returns the command's first word past its NAME=value words
// (its argv's, or its shell string's split at blanks).
func (s *Spec) firstWord() string {
	words := s.Args
	if s.Command != "" {
		words = strings.Fields(s.Command)
	}
	for _, w := range words {
		if !assignment(w) {
			return w
		}
	}
	return ""
}

// program returns the name of the program fence runs: the base name of
// the command's first word past its NAME=value words (fence --
// /usr/bin/claude, fence -c "claude -p hi"), or "" when it is not a plain
// name (a shell construct, a variable, a name with characters a directory
// name would not take).
func (s *Spec) program() string {
	first := s.firstWord()
	name := filepath.Base(first)
	if name == "" || name == "." || name == ".." || name == "/" {
		return ""
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return ""
		}
	}
	return name
}

// programFound reports whether program() names an executable file the
// command will find: given as a path, from the working directory; else
// in the PATH the command gets. A typo (fence -t code -- cladue) or a
// missing agent then makes nothing in $HOME.
func (s *Spec) programFound() bool {
	first := s.firstWord()
	var cands []string
	if strings.Contains(first, "/") {
		cands = []string{first}
		if !filepath.IsAbs(first) {
			cands[0] = filepath.Join(s.Cwd, first)
		}
	} else {
		path := os.Getenv("PATH")
		for _, kv := range s.commandEnv() {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
		for _, d := range filepath.SplitList(path) {
			if filepath.IsAbs(d) {
				cands = append(cands, filepath.Join(d, first))
			}
		}
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// ownDir reports whether p is a directory (not a symlink) of the
// effective user's: not another user's home (sudo -E), where a directory
// of ours would keep its owner out.
func ownDir(p string) bool {
	st, err := os.Lstat(p)
	if err != nil || !st.IsDir() {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid()
}

// worktreeGitDirs returns the git directories of a linked worktree that is
// the working directory (or holds it) and is writable: its .git file names
// them, elsewhere (main/.git/worktrees/NAME and main/.git), and git there
// could not commit without them. They become writable as a checkout's own
// .git is; their hooks and configs stay protected (gitPaths), and so do
// the other worktrees' git directories in main/.git/worktrees
// (linkedWorktrees), which git trusts at the next command there.
//
// The .git file is the checkout's content, which an unpacked archive can
// forge ("gitdir: /home/you"): the directories count only if they are
// what git itself would take for this worktree's: NAME's gitdir file names
// this .git back, and main/.git is a repository (HEAD, objects, refs).
// Anything else (a submodule checkout too) gets nothing.
func (s *Spec) worktreeGitDirs(writable []string) []string {
	dot, dirs := s.findGit()
	if dot == "" || len(dirs) != 2 {
		return nil // no repository, an ordinary .git, or not a linked worktree
	}
	dotRes, err := s.paths.eval(dot)
	if err != nil || !underAny(dotRes, writable) {
		return nil
	}
	g, gerr := s.paths.eval(dirs[0])
	c, cerr := s.paths.eval(dirs[1])
	if gerr != nil || cerr != nil || filepath.Dir(g) != filepath.Join(c, "worktrees") {
		return nil
	}
	back := readGitLink(filepath.Join(g, "gitdir"), "")
	if back == "" {
		return nil
	}
	if b, err := s.paths.eval(back); err != nil || b != dotRes {
		return nil
	}
	for _, n := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Lstat(filepath.Join(c, n)); err != nil {
			return nil
		}
	}
	var out []string
	for _, d := range []string{g, c} {
		if !underAny(d, writable) && !slices.Contains(out, d) {
			out = append(out, d)
			s.logf("the working directory is a linked worktree: its git directory %s is writable", d)
		}
	}
	return out
}

// sequencerState are what an interrupted rebase, cherry-pick or revert
// keeps in a git directory, whose todo lists can hold commands ("exec")
// that git runs at --continue.
var sequencerState = []string{"rebase-merge", "rebase-apply", "sequencer"}

// gitDirPaths returns what git reads configuration or runs hooks from in
// the git directory dir (own is the working directory's .git, whose hooks
// are DangerousDirs): commondir, hooks, config and config.worktree unless
// allowConfig, and the same in its submodules' git directories, nested
// ones included; and the directories of those it could not list
// (gitDirsUnder).
func gitDirPaths(dir, own string, allowConfig bool) (out, unlistable []string) {
	return gitDirPathsOnce(dir, own, allowConfig, gitDirSet{})
}

// gitDirSet holds the git directories a walk has seen, by where they
// lead: a modules directory that is a symlink (to "..", planted by an
// earlier run) must not have the walk go round for ever.
type gitDirSet map[string]bool

// first reports whether d is new to the set, and adds it.
func (v gitDirSet) first(d string) bool {
	if r, err := filepath.EvalSymlinks(d); err == nil {
		d = r
	}
	if v[d] {
		return false
	}
	v[d] = true
	return true
}

func gitDirPathsOnce(dir, own string, allowConfig bool, seen gitDirSet) (out, unlistable []string) {
	if !seen.first(dir) {
		return nil, nil
	}
	for _, n := range nsexec.GitDirNames(allowConfig) {
		if n != "hooks" || dir != own { // own's hooks: DangerousDirs
			out = append(out, filepath.Join(dir, n))
		}
	}
	mods, unlistable := gitDirsUnder(filepath.Join(dir, "modules"), 0)
	for _, m := range mods {
		ps, us := gitDirPathsOnce(m, own, allowConfig, seen)
		out, unlistable = append(out, ps...), append(unlistable, us...)
		if !allowConfig {
			// The .git file of its checkout, which leads git there:
			// where its config, protected, says the checkout is. A
			// nested submodule's is named only in its parent's
			// .gitmodules, a file of that checkout, the sandbox's to
			// change: rewritten, lib/deep/.git led git status in the
			// repository's top, outside, into a repository of the
			// sandbox's, and ran its fsmonitor.
			if wt := coreWorktree(filepath.Join(m, "config")); wt != "" {
				out = append(out, filepath.Join(wt, ".git"))
			}
		}
	}
	return out, unlistable
}

// findGit returns the .git of the repository the working directory is in
// (its own, else the nearest directory above with one, whose hooks and
// config git uses there just the same), or "", and the git directories it
// stands for: itself if it is a directory; for a .git file, the directory
// it names and that one's common directory.
func (s *Spec) findGit() (dot string, dirs []string) {
	// Once per plan: nine steps of a plan ask, and each walk up lstat'ed
	// every ".git" on the way again.
	if s.git != nil {
		return s.git.dot, slices.Clone(s.git.dirs)
	}
	s.git = &foundGit{}
	for d := s.Cwd; ; d = filepath.Dir(d) {
		dot = filepath.Join(d, ".git")
		_, err := os.Lstat(dot)
		switch {
		case err == nil:
			dirs, _ := gitDirsOf(dot)
			s.git.dot, s.git.dirs = dot, dirs
			return dot, slices.Clone(dirs)
		case !errors.Is(err, fs.ErrNotExist), d == "/":
			// One that cannot be looked up is taken as absent: as a
			// protected path (.git/hooks) it fails the plan.
			return "", nil
		}
	}
}

// foundGit is what findGit found, kept for the rest of the plan.
type foundGit struct {
	dot  string
	dirs []string
}

// moduleGroups returns the directories between modules and the git
// directories mods under it that are not git directories themselves: a
// submodule named "libs/b" has its git directory in modules/libs/b. No
// new git directory may be made in them either (a planted libs/b served
// the next git submodule update --init libs/b).
func moduleGroups(modules string, mods []string) []string {
	var out []string
	for _, m := range mods {
		for d := filepath.Dir(m); strings.HasPrefix(d, modules+"/"); d = filepath.Dir(d) {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// eachModulesDir calls visit for each git directory of the working
// directory's repository (findGit) and of the repositories one level
// below it (childRepos) that keep accepts, and then for its submodules'
// git directories, breadth first, each once: with its modules directory
// and the submodule git directories found in it (one that cannot be
// listed is gitPaths' concern).
func (s *Spec) eachModulesDir(keep func(gitDir string) bool, visit func(gitDir, modules string, mods []string)) {
	_, dirs := s.findGit()
	// The repositories below too: started in ~/src, a git directory
	// planted in proj/.git/modules/lib (a submodule not yet cloned)
	// served the next git submodule update --init in proj outside,
	// which ran its post-checkout hook.
	for _, dot := range s.childRepos() {
		ds, _, _, _ := childGitDirs(dot) // an error stopped childRepoPaths
		dirs = append(dirs, ds...)
	}
	seen := gitDirSet{}
	for len(dirs) > 0 {
		d := dirs[0]
		dirs = dirs[1:]
		if !keep(d) || !seen.first(d) {
			continue
		}
		modules := filepath.Join(d, "modules")
		mods, _ := gitDirsUnder(modules, 0)
		visit(d, modules, mods)
		dirs = append(dirs, mods...)
	}
}

// moduleGroupPatterns are moduleGroups as the write guard's patterns.
func moduleGroupPatterns(modules string, mods []string) []string {
	var out []string
	for _, g := range moduleGroups(modules, mods) {
		out = append(out, pathglob.Literal(g)+"/*")
	}
	return out
}

// gitDirsUnder returns the git directories (those with a HEAD) in dir and
// the directories below it that are not git directories themselves: the
// submodules under .git/modules, whose names may hold slashes; and the
// directories it could not list (whose "dir/*", looked up as a protected
// pattern, fails the plan where that matters). The walk stops 8 levels
// down.
func gitDirsUnder(dir string, depth int) (dirs, unlistable []string) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || depth > 8 {
		return nil, nil
	}
	if err != nil {
		return nil, []string{dir}
	}
	for _, e := range es {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(dir, e.Name())
		// HEAD, or the config, which fence protects: a HEAD removed in
		// one run must not unprotect the config in the next. Files, not
		// directories: "libs/config" may be a submodule's git directory
		// in the group libs.
		head, headErr := os.Lstat(filepath.Join(d, "HEAD"))
		config, configErr := os.Lstat(filepath.Join(d, "config"))
		if headErr == nil && !head.IsDir() || configErr == nil && config.Mode().IsRegular() {
			dirs = append(dirs, d)
		} else {
			ds, us := gitDirsUnder(d, depth+1)
			dirs, unlistable = append(dirs, ds...), append(unlistable, us...)
		}
	}
	return dirs, unlistable
}

// readGitLink reads a one-line git pointer file (a .git file's "gitdir:
// PATH", a commondir's PATH) and returns the path it names, made absolute
// against the file's directory, or "".
func readGitLink(file, prefix string) string {
	p, _ := gitLink(file, prefix)
	return p
}

// unreadableOwn reports whether err, from reading the file p, says that
// p is there, the user's, and may not be read. chmod is not guarded: a
// run could make a file that fence reads to know what to protect (a .git
// file, a worktree's gitdir, a repository's config protected by the
// write guard alone) unreadable, so that the next run's plan missed what
// it leads to, and that run could make it readable again and change it.
// Such a file stops fence instead. (Another user's is not the command's
// to chmod; a directory on the way that may not be searched fails the
// protected paths' own lookups.)
func unreadableOwn(p string, err error) bool {
	if !errors.Is(err, fs.ErrPermission) {
		return false
	}
	st, lerr := os.Lstat(p)
	if lerr != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid()
}

// gitLink is readGitLink, with an error for a file of the user's that is
// there but cannot be read (unreadableOwn).
func gitLink(file, prefix string) (string, error) {
	b, err := cfgfile.Read(file) // a regular file: not a FIFO to hang on
	if err != nil {
		if unreadableOwn(file, err) {
			return "", fmt.Errorf("read %s, a git pointer file, to protect what it leads to: %w; it is yours and the command could chmod it: make it readable (chmod u+r)", file, err)
		}
		return "", nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	p, ok := strings.CutPrefix(strings.TrimRight(line, "\r "), prefix)
	if !ok || p == "" {
		return "", nil
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(file), p)
	}
	return filepath.Clean(p), nil
}

// wholeDir returns the directory that p names when p is a path without
// globs followed by "/**" (the directory itself, whole); else p.
func wholeDir(p string) string {
	rest, ok := strings.CutSuffix(p, "/**")
	if !ok || pathglob.HasMeta(rest) {
		return p
	}
	if rest == "" {
		return "/"
	}
	return rest
}

// recursive reports whether p has a "**" the mount layer cannot express
// (anything but a trailing "/**").
func recursive(p string) bool {
	return strings.Contains(strings.TrimSuffix(p, "/**"), "**")
}

// fsPolicy resolves the filesystem section into mount instructions.
func (s *Spec) fsPolicy(c *config.Config) (nsexec.FSPolicy, error) {
	s.git = nil // findGit's answer is this policy's
	f := c.Filesystem
	if dr, dw := s.projectDenials(); len(dr)+len(dw) > 0 {
		f.DenyRead, f.DenyWrite = slices.Concat(f.DenyRead, dr), slices.Concat(f.DenyWrite, dw)
	}
	s.cacheEnv = nil // protect sets it, if it runs
	var fp nsexec.FSPolicy
	for _, p := range f.DenyRead {
		if recursive(p) {
			// Hiding every match would need a walk of the tree at start
			// or a check on every open; fence does neither, and will not
			// run with less protection than asked for.
			return fp, fmt.Errorf("filesystem.denyRead %q: a \"**\" inside a pattern is not supported for reads; list a directory (dir/**) or a one-level glob (dir/*.pem) instead", p)
		}
	}
	for _, l := range [][]string{f.AllowWrite, f.AllowRead, f.AllowExecute} {
		for _, p := range l {
			if recursive(p) {
				fmt.Fprintf(s.stderr(), "Warning: %q grants nothing: a \"**\" inside a pattern is only supported in denyWrite; list a directory (dir/**) instead\n", p)
			}
		}
	}
	s.makeHomeDirs(f.AllowWrite)
	for _, w := range f.AllowWrite {
		if config.ExpandPath(w, s.Home, s.Cwd) == "/tmp" {
			fp.HostTmp = true
			continue
		}
		paths, err := s.grantPaths("filesystem.allowWrite", w, true)
		if errors.Is(err, errOwnPath) {
			continue
		}
		if err != nil {
			return fp, err
		}
		fp.Writable = append(fp.Writable, paths...)
	}
	fp.Writable = append(fp.Writable, s.worktreeGitDirs(fp.Writable)...)
	// What the command could chmod: anything writable to it, before
	// denyWrite narrows the writable paths down (see failure).
	changeable := changeableOf(fp)
	// A trailing "/**" means the directory itself, whole: "newdir/**" is
	// the literal "newdir" for the creation guard (a missing one cannot
	// be created) and not a pattern.
	denyWrite := make([]string, len(f.DenyWrite))
	for i, p := range f.DenyWrite {
		denyWrite[i] = wholeDir(p)
	}
	// With nothing writable there is nothing to protect: the whole tree
	// is read-only. No lookups then (the default config's start).
	if len(fp.Writable) > 0 || fp.HostTmp {
		if err := s.protect(&fp, f, c.Network.AllowUnixSockets, denyWrite, changeable); err != nil {
			return fp, err
		}
	}

	masked, err := s.expandDenials("filesystem.denyRead", f.DenyRead, changeable)
	if err != nil {
		return fp, err
	}
	// A mask on "/" would hide nothing: the sandbox's root is the root
	// mount, and a mount on top of it is not where paths start. Hiding
	// everything, as asked, would leave nothing to run either.
	if slices.Contains(masked, "/") {
		return fp, s.rootDenied(f.DenyRead, changeable)
	}
	denied := slices.Clone(masked) // the denyRead entries' alone
	// The sandbox's /dev is its own (nsexec.DevNodes): hiding its
	// /dev/null hides nothing of the host's, and makes every redirection
	// to it fail. Done as asked, with a word.
	for _, p := range masked {
		if p == "/dev" || p == "/dev/null" {
			fmt.Fprintf(s.stderr(), "Warning: filesystem.denyRead hides %s, the sandbox's own, which holds nothing of the host's: every redirection to /dev/null will fail in the sandbox; remove the entry\n", p)
		}
	}
	// The grants to read; none in the sandbox's own /proc and /dev,
	// which are there already (systemGrant).
	var readable, allowRead []string
	for _, l := range []struct {
		field   string
		entries []string
	}{{"filesystem.allowRead", f.AllowRead}, {"filesystem.allowExecute", f.AllowExecute}} {
		for _, p := range l.entries {
			paths, err := s.grantPaths(l.field, p, false)
			if errors.Is(err, errOwnPath) {
				continue
			}
			if err != nil {
				return fp, err
			}
			readable = append(readable, p)
			allowRead = append(allowRead, paths...)
		}
	}
	// What may lift a credential mask by where it leads: the grants no
	// other user can redirect. An allowRead entry in another user's
	// directory that they made a symlink to ~/.ssh lifted the mask of
	// your keys. (As written, an entry still lifts what it names.)
	lifting := s.trustedGrants(readable)
	// A credential path that allowRead lifts as a whole is not looked up:
	// nothing is hidden there, so nothing there can fail.
	var allowReadAsGiven, maskedAsGiven []string
	for _, p := range readable {
		allowReadAsGiven = append(allowReadAsGiven, config.ExpandPath(p, s.Home, s.Cwd))
	}
	for _, p := range f.DenyRead {
		if !config.HasGlob(p) {
			maskedAsGiven = append(maskedAsGiven, strings.TrimSuffix(config.ExpandPath(p, s.Home, s.Cwd), "/**"))
		}
	}
	// hiding are the entries (config paths) that hide something: their
	// symlinks in writable paths are held (heldDenials).
	hiding := slices.Clone(f.DenyRead)
	for _, cr := range append(s.credentials(), hiddenSystemPaths()...) {
		cp := cr.pattern
		lit := literalPrefix(s.configPattern(cp))
		var own []string
		if len(readable) > 0 {
			// Only a grant can lift a mask: no lookups otherwise (the
			// default config's start).
			own = s.credentialDirs(cr.own)
		}
		// Under a denyRead path it is hidden whole already; under a grant
		// that lifts it, nothing is hidden, so nothing can fail.
		if credentialLifted(lit, lifting, own) || credentialLifted(lit, allowReadAsGiven, own) || underAny(lit, masked) || underAny(lit, maskedAsGiven) {
			continue
		}
		found, err := s.expandDenials("the credential path", []string{cp}, changeable)
		if err != nil {
			return fp, err
		}
		for _, c := range found {
			if !credentialLifted(c, lifting, own) && !slices.Contains(masked, c) {
				masked = append(masked, c)
				if !slices.Contains(hiding, cp) {
					hiding = append(hiding, cp)
				}
			}
		}
	}
	// A symlink on the way to a hidden path, in a writable path (~/.aws
	// -> /data/aws with a writable home, a denyRead "./secrets" that
	// leads out of the project), is as much a part of what is hidden as
	// where it ends: removed or made to lead elsewhere, the next run would
	// hide there and show the file. Guarded, it can be neither removed,
	// renamed nor replaced, nor its directories there renamed.
	for _, n := range s.heldDenials(hiding, changeable) {
		if !slices.Contains(fp.Guarded, n) {
			fp.Guarded = append(fp.Guarded, n)
		}
	}
	pr := s.foreignProcs()
	if pr.err != nil {
		return fp, pr.err
	}
	fp.Masked = append(masked, pr.paths...)
	// A working directory inside a hidden directory is not there in the
	// sandbox: the command could not start in it, and PID 1's chdir
	// failed with a message that named no cause. (One that is hidden
	// itself is there, empty.)
	for _, m := range fp.Masked {
		if s.Cwd != m && underAny(s.Cwd, []string{m}) {
			if slices.Contains(denied, m) {
				return fp, fmt.Errorf("working directory %s is inside %s, which filesystem.denyRead%s hides in the sandbox; run fence from another directory, or remove the entry", s.Cwd, m, fromParen(s.from("filesystem.denyRead", nil)))
			}
			return fp, fmt.Errorf("working directory %s is inside %s, which fence hides in the sandbox (a credential path, or another view of a hidden one); run fence from another directory, or list it in filesystem.allowRead", s.Cwd, m)
		}
	}
	// Another mount of the same file system shows the same files at
	// other paths (a bind mount of /home at /srv/home, a btrfs pool
	// mounted whole beside its subvolumes): masked there too.
	// Not /proc and /dev, the sandbox's own, nor the other procfs
	// mounts' views (one of /proc is /proc).
	// A view may have views of its own (a bind mount of an overlay's
	// mount point): each that exists is looked at in turn, once.
	if fp.Masked, err = s.maskedViews(masked, fp.Masked, pr.mounts, maxMaskedViews); err != nil {
		return fp, err
	}
	// A kernel file system mounted in a writable path (a chroot's rbind
	// of /sys or /dev for a build root, a container tool's /host/sys)
	// came with the writable bind, writable: a sandbox run by root could
	// change the kernel's settings there (sysfs, the cgroups), or make
	// files in the host's devtmpfs. Each is bound read-only on top, as
	// the sandbox's /sys is read-only; a writable path on one is refused.
	// (/proc and /dev are the sandbox's own, and /sys read-only, whatever
	// is mounted there on the host.)
	kernelAt := map[int]kernelMount{}
	for _, k := range pr.kernel {
		kernelAt[k.index] = k
		writableHere := underAny(k.point, fp.Writable) || fp.HostTmp && underAny(k.point, []string{"/tmp"})
		if writableHere && !underAny(k.point, []string{"/proc", "/dev", "/sys"}) && !slices.Contains(fp.Protected, k.point) {
			s.logf("%s mount %s in a writable path: bound read-only", k.fstype, k.point)
			fp.Protected = append(fp.Protected, k.point)
		}
	}
	for _, w := range fp.Writable {
		if k, ok := kernelAt[innermostMount(w, pr.mounts)]; ok {
			return fp, fmt.Errorf("allowWrite %s is on the kernel's %s file system (mounted at %s): writable, it would let a sandbox run by root change the kernel's state; remove it from filesystem.allowWrite", w, k.fstype, k.point)
		}
	}
	// A writable path that a mask covers whole grants nothing (as one
	// that a protection covers, warned of in protect): the command sees an
	// empty read-only file or directory there.
	for _, w := range fp.Writable {
		if underAny(w, fp.Masked) {
			fmt.Fprintf(s.stderr(), "Warning: allowWrite %s is hidden: fence hides it (a credential path, a denyRead entry, another mount of /proc); list it in allowRead to show a credential, or remove it from denyRead\n", w)
		}
	}
	// A mask sits on the path as it was at the start, and a directory
	// above it in a writable path could be renamed (mv ~/.aws ~/.aws2,
	// mv config config.old for a denyRead config/prod.key): the mask goes
	// with it, and the next run, hiding the path where it was, finds
	// nothing there and shows the file at its new name. Held (the write
	// guard's), such a directory can be neither renamed nor replaced, as
	// Seatbelt keeps the directories above a hidden path on macOS.
	held := map[string]bool{}
	for _, h := range fp.Held {
		held[h] = true
	}
	for _, m := range fp.Masked {
		for d := filepath.Dir(m); d != "/" && underAny(d, changeable) && !held[d]; d = filepath.Dir(d) {
			held[d] = true
			fp.Held = append(fp.Held, d)
		}
	}
	if f.DefaultDenyRead {
		fp.DefaultDenyRead = true
		fp.ReadOnly = append(s.expandGrants(systemReadPaths), allowRead...)
		// Merged-/usr systems have /bin, /lib, /lib64 as symlinks; the
		// scaffold root needs the links too, or no program finds its ELF
		// interpreter. And the links on the way to the other names the
		// command knows (scaffoldLinks).
		fp.Links = s.scaffoldLinks(f, slices.Concat(fp.ReadOnly, fp.Writable))
	}
	if slices.Contains(fp.Writable, "/") {
		// Everything is writable, hence visible: a scaffold root or
		// read-only binds would only cover writable paths, and the host's
		// /tmp is part of "/".
		fp.DefaultDenyRead, fp.ReadOnly, fp.Links, fp.HostTmp = false, nil, nil, true
	}
	if fp.DefaultDenyRead {
		// Only what is listed is there: a working directory that is not
		// would fail at the chdir, with a message that names no cause.
		// One above a listed path is there, in the scaffold that holds
		// the mount point ("/" always is), showing only what is listed.
		if !underAny(s.Cwd, fp.ReadOnly) && !underAny(s.Cwd, fp.Writable) && !aboveAny(s.Cwd, fp.ReadOnly) && !aboveAny(s.Cwd, fp.Writable) {
			return fp, fmt.Errorf("working directory %s is not readable in the sandbox (filesystem.defaultDenyRead%s); add \".\" to filesystem.allowRead, or run fence from a directory it allows", s.Cwd, fromSuffix(s.from("filesystem.defaultDenyRead", nil)))
		}
	}
	if !fp.HostTmp && underAny(s.Cwd, []string{"/tmp"}) && (!fp.DefaultDenyRead || shownByRootOnly(s.Cwd, fp)) {
		// The private /tmp would hide the working directory; keep it
		// readable (not writable: nothing allowed that). Under
		// defaultDenyRead only where allowRead "/" shows it (the host's
		// tree, under the private /tmp): what else the policy lists in
		// /tmp is bound there already.
		if !underAny(s.Cwd, fp.Writable) {
			fp.ReadOnly = append(fp.ReadOnly, s.Cwd)
		}
		// And the top of the git work tree it is in, read-only: shown
		// alone, a subdirectory of a repository cloned into /tmp had no
		// repository (git status: "not a git repository"), and writes
		// above it went to the private /tmp, lost. Not /tmp itself,
		// which would bring back the whole of the host's /tmp.
		if dot, _ := s.findGit(); dot != "" {
			top := filepath.Dir(dot)
			if top != "/tmp" && underAny(top, []string{"/tmp"}) && !underAny(top, fp.Writable) && !underAny(top, fp.ReadOnly) {
				fp.ReadOnly = append(fp.ReadOnly, top)
			}
		}
	}
	if !fp.DefaultDenyRead && !fp.HostTmp {
		// allowRead of a path in the host's /tmp (a tool unpacked
		// there, a file another program left): the private /tmp hid it,
		// and the grant did nothing. Read-only, as the rest of the
		// host's tree. (Under defaultDenyRead every allowRead entry is
		// bound already.) Not /tmp itself: allowWrite "/tmp" brings the
		// host's whole /tmp.
		for _, p := range allowRead {
			if p != "/tmp" && underAny(p, []string{"/tmp"}) && !underAny(p, fp.Writable) && !underAny(p, fp.ReadOnly) {
				fp.ReadOnly = append(fp.ReadOnly, p)
			}
		}
		// An entry reached through a symlink in /tmp (a tool's
		// "current" -> its version's directory): the link too, as for a
		// home below, or the name listed would not exist inside, only
		// where it leads (exit 127, and the hint said to list what was
		// listed). Only a link straight to a directory that holds what
		// is shown, in a directory that is itself, not a chain.
		for _, raw := range slices.Concat(readable, f.AllowWrite) {
			if config.HasGlob(raw) {
				continue
			}
			l := config.ExpandPath(raw, s.Home, s.Cwd)
			if l == "/tmp" || !underAny(l, []string{"/tmp"}) {
				continue
			}
			r, err := s.paths.eval(l)
			// Shown: bound above, or outside /tmp.
			if err != nil || r == l || underAny(r, []string{"/tmp"}) && !underAny(r, fp.ReadOnly) && !underAny(r, fp.Writable) {
				continue
			}
			for a := l; a != "/tmp"; a = filepath.Dir(a) {
				t, err := os.Readlink(a)
				if err != nil {
					continue
				}
				dir := filepath.Dir(a)
				ra, err := s.paths.eval(a)
				if d, derr := s.paths.eval(dir); err == nil && derr == nil && d == dir && underAny(r, []string{ra}) &&
					(t == ra || !filepath.IsAbs(t) && filepath.Join(dir, t) == ra) {
					fp.Links = append(fp.Links, [2]string{a, t})
				}
				break
			}
		}
	}
	if !fp.DefaultDenyRead && !fp.HostTmp && s.Home != "" {
		// The same for a home directory under /tmp (a CI job's, a
		// service user's): hidden, it took ~/.gitconfig, ~/.npmrc and
		// the rest with it, with no word. Not a home that is /tmp
		// itself, which would bring back the whole of the host's /tmp.
		if h, err := s.paths.eval(s.Home); err == nil && h != "/tmp" && underAny(h, []string{"/tmp"}) {
			if !underAny(h, fp.Writable) && !underAny(h, fp.ReadOnly) {
				fp.ReadOnly = append(fp.ReadOnly, h)
			}
			// A home that is a symlink in /tmp to it (HOME=/tmp/x/h
			// -> real): the link too, or ~ would not exist inside;
			// whichever bind shows the home (read-only here, the
			// working directory's, or a writable one). Only a link
			// straight to it, in a directory that is itself, not a
			// chain. (s.Home is resolved; the command gets HOME as
			// it is.)
			home := s.envDir("HOME")
			if t, err := os.Readlink(home); err == nil && home != h && underAny(home, []string{"/tmp"}) {
				dir := filepath.Dir(home)
				if d, err := s.paths.eval(dir); err == nil && d == dir && (t == h || !filepath.IsAbs(t) && filepath.Join(dir, t) == h) {
					fp.Links = append(fp.Links, [2]string{home, t})
				}
			}
		}
	}
	dirs, socks := s.hiddenSockets(c.Network.AllowUnixSockets, fp)
	fp.ReadOnly, fp.Sockets = append(fp.ReadOnly, dirs...), socks
	// Once the plan holds (a refusal is the only line then).
	if s.Home != "" {
		if h, err := s.paths.eval(s.Home); err == nil && underAny(h, changeableOf(fp)) {
			// Name what holds it when it is not the working
			// directory (a home under /tmp, which -t code lists):
			// running fence in a project directory changes nothing
			// then.
			fix := "run fence in a project directory, or narrow allowWrite"
			if !underAny(h, []string{s.Cwd}) {
				for _, w := range changeableOf(fp) {
					if h == w {
						fix = fmt.Sprintf("allowWrite %q is it: narrow allowWrite", w)
						break
					}
					if underAny(h, []string{w}) {
						fix = fmt.Sprintf("allowWrite %q holds it: narrow allowWrite, or use a home outside %s", w, w)
						break
					}
				}
			}
			fmt.Fprintln(s.stderr(), "Warning: your home directory is writable in the sandbox: fence keeps the common start-up files there read-only, not every program or plugin they load (~/.local/bin, ~/.nvm, shell plugins); "+fix)
		}
	}
	return fp, nil
}

// protect fills in fp's protections (fsPolicy): denyWrite, the policy
// files, the built-in protected names and git paths as read-only binds and
// guarded names, the write guard's patterns, and the record of created
// files.
func (s *Spec) protect(fp *nsexec.FSPolicy, f config.FilesystemConfig, unixSockets, denyWrite, changeable []string) error {
	// Protected: denyWrite, the files that decide fence's own policy (a
	// command that could write them would loosen its next run: the config
	// files, the record of created files), then the dangerous names in cwd
	// and $HOME.
	policyFiles := slices.Clone(s.PolicyFiles)
	// Wherever XDG_STATE_HOME points, and the default: a run with it set
	// must not plant the record a later run without it reads.
	// The directory too (the trust store's, by default): a command that
	// could chmod it made every later run fail to read the trust store,
	// and one that could make it would choose what it holds. Bound
	// read-only, it also keeps the record read-only when another run
	// replaces the file in it.
	for _, d := range s.xdgDirs("XDG_STATE_HOME", ".local/state") {
		for _, r := range []string{filepath.Join(d, "fence"), filepath.Join(d, "fence", "created.json")} {
			if !slices.Contains(policyFiles, r) {
				policyFiles = append(policyFiles, r)
			}
		}
	}
	// The user's entries resolve through symlinks (s.expand); the built-in
	// names below are taken literally for the precedence rule, so that a
	// checkout with ".vscode -> .." cannot make the workspace read-only.
	userAbs, err := s.expandDenials("filesystem.denyWrite", f.DenyWrite, changeable)
	if err != nil {
		return err
	}
	// A file that an earlier sandbox created and that only a glob of
	// denyWrite matches (test.key for *.key, not listed by name): the
	// guard's patterns let the sandbox change it (the record of created
	// files, see loadCreated), and bound read-only, as a match of the
	// user's, it could be neither changed nor removed in later runs. A
	// path listed by name, or one of fence's own, is bound as ever.
	if made := s.createdMatches(denyWrite, changeable); len(made) > 0 {
		var named []string
		for _, p := range f.DenyWrite {
			if !config.HasGlob(p) {
				r, _ := s.expand(p, changeable)
				named = append(named, r...)
			}
		}
		userAbs = slices.DeleteFunc(userAbs, func(p string) bool { return made[p] && !slices.Contains(named, p) })
	}
	var policyAbs []string
	for _, p := range policyFiles { // paths, whatever characters they hold
		r, err := s.paths.eval(p)
		if err != nil {
			if err = failure(err, changeable); err != nil {
				return denialError("the policy file", p, err)
			}
			continue
		}
		policyAbs = append(policyAbs, r)
	}
	userAbs = append(userAbs, policyAbs...)
	sshPaths, sshPatterns, err := s.sshIncludes()
	if err != nil {
		return err
	}
	gp, unlistable, err := s.gitPaths(f.AllowGitConfig)
	if err != nil {
		return err
	}
	// fence's own protected paths: paths, whatever their names hold
	// (guarded gets them too).
	cacheProt, cacheEnv, cacheOwn := s.toolCacheEnv(changeable)
	s.cacheEnv = cacheEnv
	builtin := slices.Concat(s.dangerousPaths(), cacheProt, sshPaths, gp)
	lits := append(slices.Clone(policyFiles), builtin...)
	denied := slices.Clone(userAbs)
	protAbs := slices.Clone(userAbs)
	for _, p := range builtin {
		denied = append(denied, filepath.Clean(p))
		if !filepath.IsAbs(p) {
			// (None is: they are built from absolute directories.)
			abs, err := s.expandDenials("the protected path", []string{pathglob.Literal(p)}, changeable)
			if err != nil {
				return err
			}
			protAbs = append(protAbs, abs...)
			continue
		}
		// One lookup that also tells what a missing one would be
		// created as (guarded asks that next, answered from the
		// resolver's cache).
		res, exists, err := s.paths.evalPartial(p, changeable)
		if err != nil {
			return denialError("the protected path", p, err)
		}
		if exists {
			protAbs = append(protAbs, res)
		}
	}
	// Patterns: globs in the last component of a directory of fence's
	// (those there now; new ones: the guard's patterns, below), and ssh's
	// includes, patterns already.
	pats := s.zshDumpPatterns()
	for _, u := range unlistable {
		pats = append(pats, filepath.Join(u, "*"))
	}
	for _, p := range append(lastGlobs(pats), sshPatterns...) {
		denied = append(denied, filepath.Clean(p))
		abs, err := s.expandDenials("the protected path", []string{p}, changeable)
		if err != nil {
			return err
		}
		protAbs = append(protAbs, abs...)
	}
	// denyWrite takes precedence over allowWrite (as in Fence): a writable
	// path at or under a protected one (allowWrite ["/srv/app/tmp"] with
	// denyWrite ["/srv/app"]) is not writable at all, neither by mount nor
	// by Landlock.
	writable := fp.Writable[:0]
	for _, w := range fp.Writable {
		if underAny(w, denied) {
			fmt.Fprintf(s.stderr(), "Warning: allowWrite %s is not writable: denyWrite or fence's own protection covers it\n", w)
			continue
		}
		writable = append(writable, w)
	}
	fp.Writable = writable
	if blocked, uid, mode := rootBlocked(writable); len(blocked) > 0 {
		more := ""
		if len(blocked) > 1 {
			more = fmt.Sprintf(" (and %d more writable paths)", len(blocked)-1)
		}
		fmt.Fprintf(s.stderr(), "Warning: fence runs as root, and root has no privileges in the sandbox: %s (owner uid %d, mode %04o) is not writable there%s; run fence as its owner (sudo -u '#%d' fence ...), or change its owner or mode\n", blocked[0], uid, mode, more, uid)
	}
	if fp.HostTmp && underAny("/tmp", denied) {
		fmt.Fprintln(s.stderr(), "Warning: allowWrite /tmp is not writable: denyWrite or fence's own protection covers it; the sandbox gets a /tmp of its own")
		fp.HostTmp = false // the sandbox's own /tmp instead
	}
	// The linked worktrees' git directories, now that what is writable is
	// known.
	wp, err := s.linkedWorktrees(f.AllowGitConfig, changeableOf(*fp), denied)
	if err != nil {
		return err
	}
	fp.Removable, fp.Held = wp.removable, wp.held
	// allowUnixSockets grants too: its paths resolve at every start, and
	// the guard lets a connect through where they lead (/var/run/docker.sock
	// for a socket name in a writable directory that a run replaced by a
	// symlink). Held, the name can still be bound by a server and
	// removed.
	// The tools' own caches (toolCacheEnv) too: each start resolves
	// them, and one that a run made a symlink out of the writable paths
	// left the next run's host caches writable.
	grants := slices.Concat(f.AllowWrite, f.AllowRead, f.AllowExecute, unixSockets, configLiterals(cacheOwn))
	if f.DefaultDenyRead {
		// The system paths shown with defaultDenyRead resolve at each
		// start too: ~/.nvm or ~/.local/bin planted as a symlink in a
		// writable home would show where it leads in the next run.
		grants = append(grants, systemReadPaths...)
	}
	fp.Grants, fp.GrantPatterns = s.heldGrants(grants, changeableOf(*fp))
	for _, p := range wp.strict {
		res, exists, err := s.paths.evalPartial(p, changeable)
		if err != nil {
			return denialError("the protected path", p, err)
		}
		if exists {
			protAbs = append(protAbs, res)
		}
		lits = append(lits, p)
	}
	// Only protected paths inside a writable bind need a read-only bind of
	// their own: everything else is read-only already.
	for _, p := range protAbs {
		if underAny(p, fp.Writable) || fp.HostTmp && underAny(p, []string{"/tmp"}) {
			fp.Protected = append(fp.Protected, p)
		}
	}
	// The markers are guarded, never bound read-only (see PolicyMarkers).
	if fp.Guarded, err = s.guarded(denyWrite, slices.Concat(lits, s.PolicyMarkers, bareRepoHeads(s.PolicyMarkers), s.gitAbove(*fp)), *fp, changeable); err != nil {
		return err
	}
	if fp.DenyWritePatterns, err = s.denyWritePatterns(denyWrite, *fp, changeable); err != nil {
		return err
	}
	fp.ProtectedPatterns = projectConfigPatterns(*fp)
	// What is protected in a writable path, by name too, as given and
	// where it leads (fp.Protected: the policy files, denyWrite's literal
	// paths, the built-in names): a read-only bind sits on the file there
	// at the start, and the kernel drops it once the file is renamed over
	// or removed on the host (the record of created files, which a run
	// ending meanwhile replaces; `fence config trust`; an editor saving
	// .bashrc; git checking out .mcp.json), leaving the new file writable
	// inside, as is one the host creates where none was. With what is
	// below it: a directory's bind goes the same way. Not the names in a
	// working directory's .git that is not there (.git/hooks of
	// DangerousDirs, gitPaths'), as guarded leaves them out: git init
	// makes that .git and what is in it, and it is the sandbox's (GitDirs
	// keeps the git directories that existed before the run); held by
	// name, they failed every git init and git clone into the working
	// directory ("mkdir .git/hooks: permission denied").
	gitDir := filepath.Join(s.Cwd, ".git")
	_, gitErr := os.Lstat(gitDir)
	seen := map[string]bool{}
	changeableNow := changeableOf(*fp)
	for _, p := range slices.Concat(lits, fp.Protected) {
		if gitErr != nil && strings.HasPrefix(p, gitDir+"/") {
			continue
		}
		if !seen[p] && underAny(p, changeableNow) {
			seen[p] = true
			fp.ProtectedPatterns = append(fp.ProtectedPatterns, pathglob.Literal(p), pathglob.Literal(p)+"/**")
		}
	}
	dumps, err := s.resolvedPatterns(append(lastGlobs(s.zshDumpPatterns()), sshPatterns...), *fp, changeable)
	if err != nil {
		return err
	}
	fp.ProtectedPatterns = append(fp.ProtectedPatterns, dumps...)
	fp.ProtectedPatterns = append(fp.ProtectedPatterns, lastGlobs(wp.patterns)...)
	if err := s.protectChildRepos(fp, f.AllowGitConfig, changeable); err != nil {
		return err
	}
	s.protectBinTargets(fp)
	if !f.AllowGitConfig {
		// No new submodule git directory, nested ones included: a
		// planted one (hooks, core.worktree) runs at the user's next
		// git submodule update --init (--recursive). Those there are
		// protected (gitPaths); git creates new ones only for a new or
		// first-cloned submodule, which writes .git/config anyway.
		// Directly under modules/ of each git directory, the nested
		// submodules' included; not "**", which would match refs
		// (refs/heads/modules/x) too.
		s.eachModulesDir(func(d string) bool { return underAny(d, changeable) }, func(d, modules string, mods []string) {
			fp.ProtectedPatterns = append(fp.ProtectedPatterns, pathglob.Literal(d)+"/modules/*")
			if r, err := s.paths.eval(filepath.Join(d, "modules")); err == nil && r != filepath.Join(d, "modules") {
				// The user's symlink: the guard sees where it leads.
				fp.ProtectedPatterns = append(fp.ProtectedPatterns, pathglob.Literal(r)+"/*")
			}
			// Nor a modules that is a symlink to a directory of the
			// sandbox's: the pattern is matched where paths lead.
			fp.Held = append(fp.Held, modules)
			if r, err := s.paths.eval(d); err == nil && r != d {
				fp.Held = append(fp.Held, filepath.Join(r, "modules"))
			}
			fp.ProtectedPatterns = append(fp.ProtectedPatterns, moduleGroupPatterns(modules, mods)...)
		})
	}
	// Every git directory that existed before the run, at any depth:
	// the write guard finds them as paths reach them (a walk of the
	// tree here would cost every start), as it keeps the repositories'
	// above.
	fp.GitDirs, fp.AllowGitConfig = true, f.AllowGitConfig
	fp.RecordNames = recordNames
	s.loadCreated(fp)
	return nil
}

// scaffoldLinks returns the symlinks that a defaultDenyRead tree needs
// besides have (FSPolicy.Links) for the names the command knows its paths
// by: its $HOME and $PWD, and the grants as listed (f), "~" being $HOME
// as the command has it and as fence resolved it. Each is bound where it
// leads (bound), and a name through a symlink led nowhere inside: no home
// with Fedora Atomic's /home -> /var/home, nothing at ~/proj -> work/proj.
// Each link on the way to them that lies in the scaffold (not in a bind,
// which shows the host's link itself, nor in the sandbox's own /proc,
// /dev and /tmp) is made there as it is on the host; the path then goes
// on from where the link leads, so that no link made is below another
// (PID 1 makes their directories in the scaffold, following nothing).
// A link leads only where the tree shows: it grants nothing.
func (s *Spec) scaffoldLinks(f config.FilesystemConfig, bound []string) [][2]string {
	env := s.commandEnv()
	home := getenv(env, "HOME")
	var names []string
	for _, v := range []string{home, getenv(env, "PWD")} {
		if filepath.IsAbs(v) {
			names = append(names, filepath.Clean(v))
		}
	}
	for _, p := range slices.Concat(systemReadPaths, f.AllowRead, f.AllowExecute, f.AllowWrite) {
		if config.HasGlob(p) {
			continue
		}
		names = append(names, config.ExpandPath(p, s.Home, s.Cwd))
		if filepath.IsAbs(home) {
			names = append(names, config.ExpandPath(p, filepath.Clean(home), s.Cwd))
		}
	}
	seen := map[string]bool{}
	var out [][2]string
	own := []string{"/proc", "/dev", "/tmp"}
	for _, n := range names {
		if !filepath.IsAbs(n) {
			continue
		}
		cur, rest := "/", strings.TrimPrefix(n, "/")
		for links := 0; rest != "" && links <= maxLinks; {
			var c string
			c, rest, _ = strings.Cut(rest, "/")
			next := filepath.Join(cur, c)
			t, err := os.Readlink(next)
			if err != nil {
				cur = next // not a link, or not there
				continue
			}
			links++
			if !seen[next] && !underAny(next, bound) && !underAny(next, own) {
				seen[next] = true
				out = append(out, [2]string{next, t})
			}
			if !filepath.IsAbs(t) {
				t = filepath.Join(cur, t)
			}
			r, err := s.paths.eval(t)
			if err != nil {
				break // the link leads nowhere: nothing below it either
			}
			cur = r
		}
	}
	// A link below another (the host changed between two lookups) would
	// have its directories made through the other: left out. PID 1 makes
	// none through a symlink anyway (its mkdirBeneath).
	var kept [][2]string
	for _, l := range out {
		if !slices.ContainsFunc(out, func(o [2]string) bool { return o[0] != l[0] && underAny(l[0], []string{o[0]}) }) {
			kept = append(kept, l)
		}
	}
	return kept
}

// heldGrants returns what of the granting entries ps (allowWrite,
// allowRead, allowExecute) lies inside a path writable in the sandbox
// (writable, resolved): each literal entry and its directories there, with
// every symlink resolving it goes through there (FSPolicy.Grants), and
// each entry with a glob in its last component whose
// directory is writable (FSPolicy.GrantPatterns). Every start resolves
// them through symlinks, so a symlink the command made where such an
// entry did not exist yet (~/.codex or ~/.claude-x in a writable home,
// ~/x under a writable /tmp), or a directory it renamed above one, would
// make the next run grant where it leads: any directory of the user's,
// read-write, or readable with defaultDenyRead, or a credential file
// unmasked (allowRead lifts the mask of the file it resolves to). Held,
// such a name can still be made a directory or a file, or removed, but
// not a symlink or a hard link, and nothing but a plain file can be
// renamed there or away (see FSPolicy.Grants).
func (s *Spec) heldGrants(ps, writable []string) (held, patterns []string) {
	// inside: strictly below a writable path, where the command makes
	// and renames names.
	inside := func(p string) bool {
		for _, w := range writable {
			if p != w && underAny(p, []string{w}) {
				return true
			}
		}
		return false
	}
	hold := func(n string) {
		if inside(n) && !slices.Contains(held, n) {
			held = append(held, n)
		}
	}
	for _, p := range ps {
		abs := s.configPattern(p)
		if !filepath.IsAbs(abs) || strings.Contains(abs, "**") && !strings.HasSuffix(abs, "/**") {
			continue // nothing granted (expand)
		}
		abs = strings.TrimSuffix(abs, "/**")
		// globs are the patterns, below abs, of the names from the
		// first one with a glob on (".tool*" and ".tool*/x" of
		// ~/.tool*/x): each name matching one is granted or leads to
		// what is, and is held as the literal names are. A glob above
		// the last name is no exception: a directory made or renamed
		// to ~/.toolA, holding a symlink x, was granted where x led.
		var globs []string
		if i := pathglob.MetaIndex(abs); i >= 0 {
			j := strings.LastIndexByte(abs[:i], '/')
			rest := abs[j+1:]
			if abs = abs[:j]; abs == "" {
				abs = "/"
			}
			g := ""
			for _, c := range strings.Split(rest, "/") {
				g = filepath.Join(g, c)
				globs = append(globs, g)
			}
		}
		res, _, err := s.paths.evalPartial(pathglob.Unescape(abs), writable)
		if err != nil {
			continue // nothing granted there either
		}
		for d := res; d != "/" && inside(d); d = filepath.Dir(d) {
			hold(d)
		}
		// A symlink of the user's on the way there (a dotfiles
		// manager's ~/.codex -> dotfiles/codex, or a chain of them) is
		// as much a part of what is granted as where it ends: removed
		// and made again leading elsewhere, the next run would grant
		// there. So every name the resolution looks up is held, for the
		// entry and for each match of a glob that goes through a
		// symlink (the match's own name is the pattern's already).
		if lit := pathglob.Unescape(abs); res != filepath.Clean(lit) {
			for _, n := range lookedUp(lit) {
				hold(n)
			}
		}
		for _, g := range globs {
			pat := filepath.Join(pathglob.Literal(res), g)
			if inside(res) || slices.Contains(writable, res) {
				patterns = append(patterns, pat)
			}
			matches, _ := s.paths.glob(pat, nil)
			for _, m := range matches {
				if r, err := s.paths.eval(m); err == nil && r == m {
					continue // no symlink on the way
				}
				for _, n := range lookedUp(m) {
					hold(n)
				}
			}
		}
	}
	return held, patterns
}

// heldDenials returns the names strictly inside the writable paths that
// resolving the hiding entries ps (denyRead, credential paths; config
// paths, globs in one component) looks up, where that resolution goes
// through a symlink: the symlinks and the names on the way to and from
// them (see lookedUp), for the entry's literal part and for each match of
// its glob. A mask sits where the entry resolved at the start; such a
// symlink removed, renamed or made to lead elsewhere in one run, the next
// hides the new place and shows the old (rm ~/.aws && mkdir ~/.aws for
// ~/.aws -> /data/aws). Held (FSPolicy.Guarded), they cannot be.
func (s *Spec) heldDenials(ps, writable []string) []string {
	var out []string
	hold := func(names []string) {
		for _, n := range names {
			if underAny(n, writable) && !slices.Contains(writable, n) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	through := func(p string) {
		if r, err := s.paths.eval(p); err == nil && r != filepath.Clean(p) {
			hold(lookedUp(p))
		}
	}
	for _, p := range ps {
		abs := s.configPattern(p)
		if !filepath.IsAbs(abs) {
			continue
		}
		if rest, ok := strings.CutSuffix(abs, "/**"); ok && !strings.Contains(rest, "**") {
			abs = rest
		}
		if !pathglob.HasMeta(abs) {
			through(pathglob.Unescape(abs))
			continue
		}
		if strings.Contains(abs, "**") {
			continue // refused (denyRead) or never a credential path
		}
		matches, _ := s.paths.glob(abs, nil)
		for _, m := range matches {
			through(m)
		}
	}
	return out
}

// recordNames are the names that the built-in templates' denyWrite globs
// keep (the last component of each; TestRecordNamesCoverTemplates keeps
// them in step). Files of these names that a sandbox creates are recorded
// whatever its own patterns (nsexec.FSPolicy.RecordNames): a venv made
// with plain fence could not be removed under -t code, its cacert.pem
// taken for one of the user's.
var recordNames = []string{".env", ".env.*", "*.key", "*.pem", "*.p12", "*.pfx"}

// worktreePaths are what fence protects of the linked worktrees' git
// directories (linkedWorktrees).
type worktreePaths struct {
	strict    []string // protected paths, as .git/hooks is
	removable []string // FSPolicy.Removable
	held      []string // FSPolicy.Held
	patterns  []string // protected patterns: new submodule git directories
}

// linkedWorktrees returns what git reads from the linked worktrees' git
// directories (NAME in worktrees/ of each git directory findGit finds, and
// of their submodules'), where they are writable: in each NAME, commondir
// (the repository git uses there), config and hooks (which git uses there
// if commondir is gone), config.worktree unless allowConfig, gitdir (which
// says where the worktree is), and its submodules' git directories
// (NAME/modules, as gitDirPaths); for a worktree the sandbox cannot write,
// the state of a rebase there too (sequencerState).
//
// They are strict (protected as the repository's own git paths are) when
// the worktree is not writable, there or not (a checkout away for now
// comes back to them): then neither git worktree remove nor prune can
// remove them; also when NAME has a hooks directory or submodules, whose
// files the names alone would not cover. Otherwise (the worktree writable,
// there or gone) they are removable, with NAME itself and the worktree's
// .git file: git worktree remove and prune
// delete them, and nothing can put them back in this run. A later run may
// find a worktree the sandbox removed made again, as it may find any
// writable directory replaced. Each worktrees directory, there or not, is
// held: a symlink there (to a repository of the sandbox's) would hold the
// next worktree git makes. Every path is given as written and as the
// kernel resolves it (git makes no symlinks there, but either may be).
//
// writable are the writable paths, denied those protected within them.
func (s *Spec) linkedWorktrees(allowConfig bool, writable, denied []string) (worktreePaths, error) {
	var wp worktreePaths
	if len(writable) == 0 {
		return wp, nil
	}
	dot, dirs := s.findGit()
	if r, err := s.paths.eval(dot); err == nil {
		dot = r
	}
	names := nsexec.GitWorktreeNames(allowConfig)
	// What a worktree that is not writable keeps besides.
	strictNames := append(slices.Clone(names), sequencerState...)
	forms := func(p string) []string {
		if r, err := s.paths.eval(p); err == nil && r != p {
			return []string{p, r}
		}
		return []string{p}
	}
	seen := gitDirSet{}
	for len(dirs) > 0 {
		d := dirs[0]
		dirs = dirs[1:]
		if !seen.first(d) {
			continue
		}
		mods, _ := gitDirsUnder(filepath.Join(d, "modules"), 0) // unlistable: gitPaths
		dirs = append(dirs, mods...)
		if r, err := s.paths.eval(d); err == nil {
			d = r
		}
		lit := filepath.Join(d, "worktrees")
		wt, err := s.paths.eval(lit)
		if errors.Is(err, fs.ErrNotExist) {
			if underAny(lit, writable) {
				wp.held = append(wp.held, lit)
			}
			continue
		}
		if err == nil && !underAny(wt, writable) && !underAny(lit, writable) {
			continue
		}
		var es []os.DirEntry
		if err == nil {
			es, err = os.ReadDir(wt)
		}
		if err != nil {
			return wp, fmt.Errorf("list the linked worktrees in %s, to protect their git directories: %w (make it readable, or take the repository out of allowWrite)", lit, err)
		}
		wp.held = append(wp.held, forms(lit)...)
		for _, e := range es {
			w := filepath.Join(lit, e.Name())
			res := w // where it leads
			if r, err := s.paths.eval(w); err == nil {
				res = r
			}
			var ws []string
			for _, f := range []string{w, filepath.Join(wt, e.Name()), res} {
				if !slices.Contains(ws, f) {
					ws = append(ws, f)
				}
			}
			// A gitdir of the user's that cannot be read would hide
			// the checkout, whose .git file then went unprotected
			// (unreadableOwn).
			if _, err := gitLink(filepath.Join(res, "gitdir"), ""); err != nil {
				return wp, err
			}
			checkout, gone := s.worktreeCheckout(res)
			if gone {
				// Where it would be: a checkout away for now (a
				// disk not mounted) comes back to its git directory.
				if r, err := s.paths.evalMissing(checkout, nil); err == nil {
					checkout = r
				} else {
					checkout = ""
				}
			}
			ours := checkout != "" && checkout != dot && underAny(checkout, writable) && !underAny(checkout, denied)
			// A hooks directory there (git makes none) would be
			// writable inside, as would submodules' git directories:
			// removable paths are only names.
			_, hooksErr := os.Lstat(filepath.Join(res, "hooks"))
			mods, unlistable := gitDirsUnder(filepath.Join(res, "modules"), 0)
			if len(unlistable) > 0 {
				return wp, fmt.Errorf("list the submodules' git directories in %s, to protect them: permission denied (make it readable, or take the repository out of allowWrite)", unlistable[0])
			}
			if hooksErr == nil || len(mods) > 0 || !ours {
				sn := strictNames
				if checkout == dot {
					sn = names // the working directory's own: its rebases are its own
				}
				for _, f := range ws {
					for _, n := range sn {
						wp.strict = append(wp.strict, filepath.Join(f, n))
					}
				}
				for _, m := range mods {
					ps, us := gitDirPaths(m, "", allowConfig)
					if len(us) > 0 {
						return wp, fmt.Errorf("list the submodules' git directories in %s, to protect them: permission denied (make it readable, or take the repository out of allowWrite)", us[0])
					}
					wp.strict = append(wp.strict, ps...)
				}
				if !allowConfig {
					// No new submodule git directory there, nested ones
					// included (as fsPolicy does for the repository's).
					wp.patterns = append(wp.patterns, filepath.Join(res, "modules/*"))
					wp.held = append(wp.held, filepath.Join(res, "modules"))
					for _, g := range moduleGroups(filepath.Join(res, "modules"), mods) {
						wp.patterns = append(wp.patterns, filepath.Join(g, "*"))
					}
					for _, m := range mods {
						wp.patterns = append(wp.patterns, m+"/modules/*")
					}
				}
				continue
			}
			if !allowConfig {
				// No submodule git directory there either (it has none:
				// it would be strict).
				wp.patterns = append(wp.patterns, filepath.Join(res, "modules/*"))
				wp.held = append(wp.held, filepath.Join(res, "modules"))
			}
			for _, f := range ws {
				wp.removable = append(wp.removable, f)
				for _, n := range names {
					wp.removable = append(wp.removable, filepath.Join(f, n))
				}
			}
			if !gone {
				wp.removable = append(wp.removable, forms(checkout)...)
			}
		}
	}
	return wp, nil
}

// worktreeCheckout returns the .git file of the worktree whose git
// directory is w, as w/gitdir names it, where it leads, and whether it is
// gone (absent). A gitdir that cannot be read gives "", not gone.
func (s *Spec) worktreeCheckout(w string) (dotGit string, gone bool) {
	p := readGitLink(filepath.Join(w, "gitdir"), "")
	if p == "" {
		return "", false
	}
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return p, true
	}
	if r, err := s.paths.eval(p); err == nil {
		return r, false
	}
	return "", false
}

// guarded returns the protected literal paths under a writable path, of
// the user's denyWrite entries (config paths: globs skipped) and fence's
// own paths lits (paths, whatever characters their names hold): the
// creation guard keeps the missing ones from being created and the
// directories above all of them from being renamed. .git/hooks and
// .git/config count only if .git exists: a repository created inside the
// sandbox (git init) needs them, and an existing one is what must not gain
// hooks.
//
// The guard compares the paths the kernel resolved, so each path is also
// given where it leads as far as it exists (resolver.evalMissing): a
// policy file under a working directory reached through a symlink, a
// denyWrite path through one. The path as given stays too: its
// directories, symlinks included, must not be renamed or replaced either,
// or the next run would find another file under the same name. changeable
// are the paths the command could chmod (see failure).
func (s *Spec) guarded(user, lits []string, fp nsexec.FSPolicy, changeable []string) ([]string, error) {
	writable := fp.Writable
	if fp.HostTmp {
		writable = append(append([]string{}, writable...), "/tmp")
	}
	if len(writable) == 0 {
		return nil, nil // nothing can be created: no lookups (the start path)
	}
	gitDir := filepath.Join(s.Cwd, ".git")
	// A failure to look .git up other than its absence has stopped the
	// plan already: .git/hooks is a protected path (expandDenials).
	_, gitErr := os.Lstat(gitDir)
	var out []string
	inOut := map[string]bool{}
	for i, p := range slices.Concat(user, lits) {
		abs := filepath.Clean(p)
		if i < len(user) {
			// The user's: a path, unless a glob.
			pat := s.configPattern(p)
			if !filepath.IsAbs(pat) || pathglob.HasMeta(pat) {
				continue // "~" without a home; a glob
			}
			abs = pathglob.Unescape(pat)
		} else if !filepath.IsAbs(p) {
			continue
		}
		if gitErr != nil && strings.HasPrefix(abs, gitDir+"/") {
			continue
		}
		// One of fence's as given: a ".." after a symlink is where the
		// kernel takes it, not where Clean does (a git include path).
		src := abs
		if i >= len(user) {
			src = p
		}
		res, err := s.paths.evalMissing(src, changeable)
		if err != nil {
			return nil, denialError("the protected path", p, err)
		}
		for _, q := range []string{abs, res} {
			if underAny(q, writable) && !inOut[q] {
				inOut[q] = true
				out = append(out, q)
			}
		}
	}
	return out, nil
}

// resolvedPatterns returns the patterns ps (fence's syntax, paths in them
// escaped) that can match inside a writable path, each with the directory
// before its first glob as given and as the kernel resolves it (as far as
// it exists), for the write guard, which matches resolved paths.
func (s *Spec) resolvedPatterns(ps []string, fp nsexec.FSPolicy, changeable []string) ([]string, error) {
	writable := changeableOf(fp)
	var out []string
	for _, p := range ps {
		dir, rest := pathglob.Dir(p)
		res, err := s.paths.evalMissing(dir, changeable)
		if err != nil {
			return nil, denialError("the protected path", pathglob.Unescape(p), err)
		}
		for _, d := range []string{dir, res} {
			relevant := underAny(d, writable)
			for _, w := range writable {
				relevant = relevant || underAny(w, []string{d}) // a glob above a writable path
			}
			if q := pathglob.Literal(d) + rest; relevant && !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	return out, nil
}

// denyWritePatterns returns the denyWrite globs as absolute patterns for
// the write guard, which checks them whenever a file is written, created or
// removed: matches created later and matches deep in a tree are covered
// without walking it. Patterns that cannot match inside a writable path are
// dropped: the mount tree already makes everything else read-only. The
// guard matches paths the kernel resolved, so the directory a pattern
// starts from is resolved as far as it exists (as in guarded).
func (s *Spec) denyWritePatterns(deny []string, fp nsexec.FSPolicy, changeable []string) ([]string, error) {
	writable := fp.Writable
	if fp.HostTmp {
		writable = append(append([]string{}, writable...), "/tmp")
	}
	var out []string
	for _, p := range deny {
		if !config.HasGlob(p) {
			continue
		}
		pat := s.configPattern(p)
		if !filepath.IsAbs(pat) || !pathglob.HasMeta(pat) {
			continue // "~" without a home; "x*/..", the glob cleaned away: a literal path (fsPolicy's prot)
		}
		// The directory before the first glob, a path (a working
		// directory "p[1]" is one), escaped again for the guard.
		prefix, rest := pathglob.Dir(pat)
		rest = strings.TrimPrefix(rest, "/")
		abs := filepath.Join(pathglob.Literal(prefix), rest)
		res, err := s.paths.evalMissing(prefix, changeable)
		if err != nil {
			return nil, denialError("filesystem.denyWrite", p, err)
		}
		for _, pd := range [][2]string{{prefix, abs}, {res, filepath.Join(pathglob.Literal(res), rest)}} {
			relevant := underAny(pd[0], writable)
			for _, w := range writable {
				relevant = relevant || underAny(w, []string{pd[0]})
			}
			if !relevant || slices.Contains(out, pd[1]) {
				continue
			}
			out = append(out, pd[1])
			if dir, ok := strings.CutSuffix(pd[1], "/**"); ok && dir != "" {
				// "secret*/**" is every matching directory, whole: the
				// directory itself too, or renaming it (a/secret1 to a/x)
				// would carry the files out of the pattern's reach.
				out = append(out, dir)
			}
		}
	}
	return out, nil
}

// projectConfigPatterns returns the patterns of every project config name
// (fence.json) in a writable path of fp. A fence.json applies to every run
// started in its directory or below it, not only to the runs whose chain
// PolicyFiles covers: one planted in a subdirectory, or an existing one
// changed, would loosen the next run started there, and no walk of the tree
// at start could find every directory a later run starts from. So none may
// be created, changed or removed anywhere the command can write: the write
// guard checks the name at every creation and write. (A single writable
// file named fence.json is the user's explicit choice, unless it decides
// this policy, which denied has already taken out.) The sandbox's private
// /tmp is not a host path: nothing there outlives the run.
func projectConfigPatterns(fp nsexec.FSPolicy) []string {
	writable := fp.Writable
	if fp.HostTmp {
		writable = append(append([]string{}, writable...), "/tmp")
	}
	var out []string
	for _, w := range writable {
		out = append(out, pathglob.Literal(strings.TrimSuffix(w, "/"))+"/**/"+config.ProjectConfigName)
	}
	return out
}

// kernelMount is a mount of one of kernelFS: where, which, and its place
// in the mount table (procsResult.mounts).
type kernelMount struct {
	point, fstype string
	index         int
}

// innermostMount returns the index in mounts of the mount that holds the
// path p: the last at the longest mount point above or at p, -1 if none.
func innermostMount(p string, mounts []mountEntry) int {
	best := -1
	for i, m := range mounts {
		if underAny(p, []string{m.point}) && (best < 0 || len(m.point) >= len(mounts[best].point)) {
			best = i
		}
	}
	return best
}

// procsResult is foreignProcs' answer: the other procfs mounts, and the
// mount table.
type procsResult struct {
	paths  []string
	mounts []mountEntry
	kernel []kernelMount // the mounts of kernelFS
	err    error
}

// foreignProcs returns what planFS's read of the mount table found, or
// reads it now (fsPolicy called on its own).
func (s *Spec) foreignProcs() procsResult {
	if s.procs == nil {
		r, err := foreignProcs()
		r.err = err
		return r
	}
	r := <-s.procs
	s.procs = nil
	return r
}

// mountEntry is a line of the mount table: the file system's device
// (major:minor), the directory of it that is mounted (root) and where
// (point), as they are written there (unescaped).
type mountEntry struct {
	dev, root, point string
	// layers are an overlay mount's upper and lower directories (host
	// paths, as the mount table gives them: otherViews compares them by
	// identity too): their files show through it, whatever file system
	// they are on.
	layers []string
}

// otherViews returns the other paths at which p (resolved) can be reached
// through mounts of the same file system as the one that shows p, each
// where no mount above hides it. mounts are in the mount table's order:
// of two at the same point, the later one is on top.
//
// Overlay layers are compared with p as written and, where that does not
// place p in one, by identity (ids): a layer given through symlinks
// (Docker names its layers by links, overlay2/l/ID) holds p if it is p or
// a directory above it. ids may be nil (no such comparison).
func otherViews(mounts []mountEntry, p string, ids *fileIDs) []string {
	own := mountHolding(mounts, p)
	if own < 0 {
		return nil
	}
	m := mounts[own]
	in := path.Join(m.root, strings.TrimPrefix(p, m.point))
	var out []string
	for i, e := range mounts {
		if i == own || e.dev != m.dev || !underAny(in, []string{e.root}) {
			continue
		}
		v := path.Join(e.point, strings.TrimPrefix(in, strings.TrimSuffix(e.root, "/")))
		if v != p && mountHolding(mounts, v) == i && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	// An overlay shows its layers' files at its mount point (its layers
	// are private clones, without the masks on top of them): p in a
	// layer is there too, where no mount above hides it; and p in an
	// overlay (at its root: overlays are not bound in part here) is a
	// file of one of its layers, or was.
	var above []string // p and the directories above it, for ids
	for i, e := range mounts {
		if e.root != "/" {
			continue
		}
		for _, l := range e.layers {
			at := ""
			switch {
			case underAny(p, []string{l}):
				at = l
			case ids != nil:
				if above == nil {
					for d := p; ; d = path.Dir(d) {
						above = append(above, d)
						if d == "/" {
							break
						}
					}
				}
				at = ids.holder(l, above)
			}
			if at == "" {
				continue
			}
			// A layer has no mounts in it: p is its file only where the
			// path from at to p crosses none, that is where at's mount
			// leads to p in p's file system. Past a mount point the layer
			// shows what is beneath it, not p; and an overlay mounted
			// inside its own layer would give views of views without end
			// (point/point/point/...: the start hung).
			a := mountHolding(mounts, at)
			if a < 0 || mounts[a].dev != m.dev || path.Join(mounts[a].root, strings.TrimPrefix(p, mounts[a].point)) != in {
				continue
			}
			v := path.Join(e.point, strings.TrimPrefix(p, strings.TrimSuffix(at, "/")))
			if v != p && mountHolding(mounts, v) == i && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if m.root == "/" {
		rel := strings.TrimPrefix(p, strings.TrimSuffix(m.point, "/"))
		// A layer given through a symlink is masked where it leads only:
		// a mask is never mounted through a symlink (nsexec refuses the
		// path and the start fails), and the file is the same.
		for _, l := range m.layers {
			d := l
			if r := ids.resolved(l); r != "" {
				d = r
			}
			if v := path.Join(d, rel); v != p && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// maxMaskedViews bounds the hidden paths and their views in the mount
// table that a start plans masks for.
const maxMaskedViews = 4096

// maskedViews returns out (the masks so far) with the other views of the
// hidden paths masked added (otherViews), and theirs in turn: each view
// that exists is looked at once. Past limit masks it fails, whatever the
// mount table holds, so that the start ends.
func (s *Spec) maskedViews(masked, out []string, mounts []mountEntry, limit int) ([]string, error) {
	views := slices.Clone(masked)
	ids := newFileIDs()
	for i := 0; i < len(views); i++ {
		m := views[i]
		for _, v := range otherViews(mounts, m, ids) {
			if !underAny(v, []string{"/proc", "/dev"}) && !slices.Contains(out, v) {
				s.logf("hidden path %s: also at %s, another mount of its file system or an overlay of it", m, v)
				out = append(out, v)
				// A view that is not there has no views: the chains
				// end (an overlay's upperdir inside its lowerdir, or
				// of "/", gave upper/upper/upper/... without end).
				if _, err := os.Lstat(v); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
					views = append(views, v)
				}
			}
		}
		if len(out) > limit {
			return out, fmt.Errorf("hide %s: the mount table shows hidden paths at more than %d places (bind mounts or overlays inside each other?); unmount some of them, or run fence where they are not mounted", m, limit)
		}
	}
	return out, nil
}

// fileIDs remembers the identities of paths (device and inode, through
// symlinks) and where layers lead, for otherViews: each layer and each
// directory is looked up once however many hidden paths are compared with
// it. Docker hosts list every container's layers in the mount table,
// hundreds of them: resolving each with EvalSymlinks at every start cost
// 5 ms here with 360 layers.
type fileIDs struct {
	ids map[string]fileID // the zero fileID: not a directory, or the stat failed
	res map[string]string
}

type fileID struct{ dev, ino uint64 }

func newFileIDs() *fileIDs {
	return &fileIDs{ids: map[string]fileID{}, res: map[string]string{}}
}

func (x *fileIDs) dir(p string) fileID {
	id, ok := x.ids[p]
	if !ok {
		id = dirID(p)
		x.ids[p] = id
	}
	return id
}

// holder returns the one of dirs (a path and the directories above it)
// that the layer l is, as the kernel resolves l, or "".
func (x *fileIDs) holder(l string, dirs []string) string {
	lid := x.dir(l)
	if lid == (fileID{}) {
		return ""
	}
	for _, d := range dirs {
		if x.dir(d) == lid {
			return d
		}
	}
	return ""
}

// resolved returns where the layer l leads when that differs from l as
// written, else "" (also for a nil x).
func (x *fileIDs) resolved(l string) string {
	if x == nil {
		return ""
	}
	r, ok := x.res[l]
	if !ok {
		r, _ = filepath.EvalSymlinks(l)
		if r == l {
			r = ""
		}
		x.res[l] = r
	}
	return r
}

// mountHolding returns the index in mounts of the mount that shows p (the
// topmost at the nearest mount point at or above p), or -1.
func mountHolding(mounts []mountEntry, p string) int {
	best, n := -1, -1
	for i, e := range mounts {
		if len(e.point) >= n && underAny(p, []string{e.point}) {
			best, n = i, len(e.point)
		}
	}
	return best
}

// underAny reports whether p equals or lies under one of dirs.
func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d {
			return true
		}
		// d + "/" is a prefix of p, without building it (a plan makes
		// thousands of these comparisons).
		d = strings.TrimSuffix(d, "/")
		if len(p) > len(d) && p[len(d)] == '/' && p[:len(d)] == d {
			return true
		}
	}
	return false
}

// aboveAny reports whether one of paths lies under dir (strictly).
func aboveAny(dir string, paths []string) bool {
	for _, p := range paths {
		if p != dir && underAny(p, []string{dir}) {
			return true
		}
	}
	return false
}

// Plan resolves s into the options for the Linux runtime without running
// anything. It touches the filesystem only to stat and resolve the listed
// paths (and read single directories for one-level globs), and to make the
// missing XDG base directories the config makes writable (makeHomeDirs).
func (s *Spec) Plan() (*nsexec.Options, error) {
	o, _, err := s.plan()
	return o, err
}

// from names the sources (Spec.Sources) that gave the resolved config's
// field its value (config.SetBy): "/p/fence.json", `template "code"`,
// "a and b"; "" when unknown or a default.
func (s *Spec) from(field string, value any) string {
	names := config.SetBy(s.Sources, field, value)
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func (s *Spec) plan() (*nsexec.Options, *netPlan, error) {
	o, err := s.planFS()
	if err != nil {
		return nil, nil, err
	}
	np, err := planNetwork(&s.Config.Network, s.from)
	if err != nil {
		return nil, nil, err
	}
	// -p of a proxy port would serve fence's proxy, without a credential,
	// to every local user on the host's 127.0.0.1.
	for _, p := range s.Ports {
		if !np.hostNet && (p == np.httpPort || p == np.socksPort) {
			field := "network.httpProxyPort"
			if p == np.socksPort {
				field = "network.socksProxyPort"
			}
			return nil, nil, fmt.Errorf("-p %d: that is fence's own proxy port inside the sandbox%s; expose another port, or move the proxy with network.httpProxyPort/socksProxyPort", p, fromParen(s.from(field, p)))
		}
		// Both ways at once, each end would forward to the other: one
		// connection would loop until fence ran out of descriptors.
		if !np.hostNet && slices.Contains(np.localPorts, p) {
			return nil, nil, fmt.Errorf("-p %d: network.allowLocalOutboundPorts%s forwards that port from the sandbox to the host already; use one direction", p, fromParen(s.from("network.allowLocalOutboundPorts", p)))
		}
	}
	o.HostNetwork = np.hostNet
	o.Listeners = np.listeners()
	if !np.hostNet {
		o.Env = setProxyEnv(o.Env, np.httpPort, np.socksPort, "")
	}
	return o, np, nil
}

// prepare fills in s's defaults, sanitises the environment, decides what
// to execute and checks the command line against the command and SSH
// policies (preflight): what every platform's plan starts with.
func (s *Spec) prepare() (env []string, path string, args []string, err error) {
	if err := s.defaults(); err != nil {
		return nil, "", nil, err
	}
	env, stripped := SanitizeEnv(s.Env)
	if len(stripped) > 0 {
		s.logf("Stripped dangerous env vars: %v", stripped)
	}
	path, args, err = s.argv(env)
	if err != nil {
		return nil, "", nil, err
	}
	if err := config.CheckCommand(s.commandLine(), s.Config); err != nil {
		return nil, "", nil, fmt.Errorf("failed to wrap command: %w", err)
	}
	return env, path, args, nil
}

func (s *Spec) planFS() (*nsexec.Options, error) {
	s.paths = resolver{} // a plan sees the filesystem as it is now
	s.ssh, s.children, s.childErr, s.created, s.git = nil, nil, nil, nil, nil
	// The mount table, read meanwhile: its ~0.1 ms on another CPU, where
	// the init stage is often waiting for this plan anyway.
	procs := make(chan procsResult, 1)
	go func() {
		r, err := foreignProcs()
		r.err = err
		procs <- r
	}()
	s.procs = procs
	defer func() { s.procs = nil }() // read by this plan or by none
	env, path, args, err := s.prepare()
	if err != nil {
		return nil, err
	}
	c := s.Config
	// The exec deny's lookups (~200 of them, ~0.3 ms cold). Where Run
	// plans (lateNoExec), they follow the rest of the policy, while PID 1
	// builds its tree, writable paths or not: on a goroutine of their own
	// beside the protections they had ended 0.4 ms after the rest of a
	// workspace config's plan (−0.51 ms for `true` there once they
	// followed it, 200 paired runs; `-t code` −0.03, n.s.). Elsewhere,
	// with something writable, meanwhile on another CPU with a resolver
	// of their own (the protections are the longer part of such a plan).
	// They need the writable paths only to judge a directory of the
	// user's that may not be searched; taking every path for writable
	// makes each such directory an error, and an error is judged again
	// below, with the real ones.
	tokens, pathVar, pathSet, cwd := config.RuntimeDenyTokens(c), getenv(env, "PATH"), hasEnv(env, "PATH"), s.Cwd
	type deniedResult struct {
		paths []string
		err   error
	}
	var denied chan deniedResult
	if len(c.Filesystem.AllowWrite) > 0 && !s.lateNoExec {
		denied = make(chan deniedResult, 1)
		go func() {
			var res resolver
			p, err := runtimeDenied(&res, tokens, pathVar, pathSet, cwd, []string{"/"})
			denied <- deniedResult{p, err}
		}()
	}
	fp, err := s.fsPolicy(c)
	d := deniedResult{err: errors.New("not looked up yet")}
	if denied != nil {
		d = <-denied // either way: no lookup outlives the plan
	}
	if err != nil {
		return nil, err
	}
	// PID 1 binds these without following a symlink (clonePinned): a
	// symlink on the way then is one swapped in since this plan. Each is
	// given as it resolves (most are already; what is missing stays as it
	// is, and is not bound).
	for _, l := range []*[]string{&fp.ReadOnly, &fp.Writable, &fp.Protected} {
		for i, p := range *l {
			if r, err := s.paths.eval(p); err == nil {
				(*l)[i] = r
			}
		}
	}
	o := &nsexec.Options{
		Path:    path,
		Args:    args,
		Env:     s.sandboxTmpdir(setEnv(env, s.cacheEnv...), fp),
		Dir:     s.Cwd,
		FS:      fp,
		Debug:   s.Debug,
		Monitor: s.Monitor,
	}
	// PID 1 checks the working directory it shows against the one it
	// inherited, where it shows that very directory: not a scaffold
	// directory above what defaultDenyRead lists, nor a mask.
	o.DirIsOwn = s.OwnCwd && (!fp.DefaultDenyRead || underAny(s.Cwd, fp.ReadOnly) || underAny(s.Cwd, fp.Writable)) && !underAny(s.Cwd, fp.Masked) &&
		!underAny(s.Cwd, []string{"/dev", "/proc"}) // the sandbox's own there
	// A command line that fence runs with a shell (-c, or what needs
	// one) cannot run where command.deny masks that shell: refused with
	// the way out, not left to fail in the sandbox with "permission
	// denied". (Upstream leaves the shell out of the masks, which lets
	// anything in the sandbox run the shell that was denied.)
	viaShell := s.Command != "" || len(s.Args) > 0 && path != s.Args[0]
	o.FS.NoExec = d.paths
	if d.err == nil && viaShell {
		if err := s.shellDenied(path, d.paths); err != nil {
			return nil, err
		}
	}
	if d.err != nil {
		lookUp := func() ([]string, error) {
			denied, err := runtimeDenied(&s.paths, tokens, pathVar, pathSet, cwd, changeableOf(fp))
			if err == nil && viaShell {
				err = s.shellDenied(path, denied)
			}
			return denied, err
		}
		if s.lateNoExec {
			// Run's: sent after the rest, while PID 1 mounts the rest.
			// Called on Run's goroutine, in StartGated: nothing else uses
			// s.paths meanwhile.
			o.NoExecLater = lookUp
		} else if o.FS.NoExec, err = lookUp(); err != nil {
			return nil, err
		}
	}
	n := &c.Network
	o.Unix = nsexec.UnixPolicy{
		AllowAll: n.AllowAllUnixSockets,
		Allow:    s.expandGrants(n.AllowUnixSockets),
		// Abstract names reach only the sandbox in its own network
		// namespace; on the host network (allowedDomains ["*"]) they would
		// reach host services (D-Bus, X11).
		Abstract: !n.AllowsAllDomains(),
	}
	return o, nil
}

// hiddenSockets returns the allowUnixSockets paths (sockets, or directories
// of them) that the sandbox's tree would not show, to be bound read-only:
// those in the host's /tmp, which the private /tmp hides (ssh-agent's
// /tmp/ssh-XXXX/agent.N, X11's /tmp/.X11-unix, tmux's, MySQL's), and
// under defaultDenyRead those outside what it shows. Listed, they failed
// with ENOENT. Not /tmp itself, nor /, whose bind would take the place
// of the private /tmp: the command would lose its writable /tmp (list
// the socket, or allowWrite "/tmp"). Only a socket or a directory: a
// directory only if no other user can change the way to it (untrustedPath,
// symlinks included): another user may make /tmp/ssh-XXXX (a stale entry,
// or one that a glob such as /tmp/ssh-*/agent.* matches) with a symlink
// to a directory of yours that defaultDenyRead hides. A socket, socks,
// whoever owns it (postgres's /tmp/.s.PGSQL.5432): the bind checks that
// what it binds is one (FSPolicy.Sockets), as another user could swap it
// for a symlink to ~/.ssh/id_ed25519 between this plan and the bind, which
// would show the key at the listed path, where no mask covers it.
func (s *Spec) hiddenSockets(sockets []string, fp nsexec.FSPolicy) (dirs, socks []string) {
	if len(sockets) == 0 {
		return nil, nil
	}
	tmp := []string{"/tmp"}
	var out []string // the directories
	for _, e := range sockets {
		// As expand, but keeping the paths as listed (or matched) for
		// untrustedPath.
		for _, m := range s.listedMatches(e) {
			p, err := s.paths.eval(m)
			if err != nil {
				continue
			}
			inTmp := underAny(p, tmp)
			switch {
			case fp.HostTmp && inTmp, !fp.DefaultDenyRead && !inTmp:
				continue // visible as it is
			case p == "/" || p == "/tmp":
				s.logf("allowUnixSockets %q: the host's %s stays hidden behind the private /tmp; list the sockets in it, or add \"/tmp\" to allowWrite", p, p)
				continue
			case underAny(p, fp.Writable), underAny(p, fp.ReadOnly), underAny(p, out), slices.Contains(socks, p):
				continue
			}
			fi, err := os.Lstat(p)
			switch {
			case err == nil && fi.Mode()&os.ModeSocket != 0:
				// Bound only if a socket then, whoever may change
				// the way to it (postgres's /tmp/.s.PGSQL.5432).
				socks = append(socks, p)
			case err != nil || !fi.IsDir():
				s.logf("allowUnixSockets %q: not bound into the sandbox: %s is neither a socket nor a directory", m, p)
			default:
				if bad := untrustedPath(m, os.Geteuid()); bad != "" {
					s.logf("allowUnixSockets %q: not bound into the sandbox: %s is another user's, or in a directory others may write", m, bad)
					continue
				}
				out = append(out, p)
			}
		}
	}
	return out, socks
}

// trustedGrants is expandGrants of the entries ps, each match kept only
// if no user other than this one and root can change the way to it
// (untrustedPath): a grant there leads where its owner wants.
func (s *Spec) trustedGrants(ps []string) []string {
	var out []string
	for _, p := range ps {
		for _, m := range s.listedMatches(p) {
			if untrustedPath(m, os.Geteuid()) != "" {
				continue
			}
			if r, err := s.paths.eval(m); err == nil {
				out = append(out, r)
			}
		}
	}
	return out
}

// listedMatches is expand's matching of the config path p without the
// resolution: the path as listed, or each name its one-level glob
// matches, for a look at the way to it (untrustedPath). "dir/**" is dir;
// nil for a relative result, or "**" inside (which grants nothing).
func (s *Spec) listedMatches(p string) []string {
	abs := s.configPattern(p)
	if !filepath.IsAbs(abs) {
		return nil
	}
	if rest, ok := strings.CutSuffix(abs, "/**"); ok && !strings.Contains(rest, "**") {
		abs = rest
		if abs == "" {
			abs = "/"
		}
	}
	switch {
	case !pathglob.HasMeta(abs):
		return []string{pathglob.Unescape(abs)}
	case strings.Contains(abs, "**"):
		return nil
	}
	matches, _ := s.paths.glob(abs, func(error) error { return nil })
	return matches
}

// untrustedPath returns the first file on the way to p, symlinks followed
// (each link checked too), that a user other than uid and root could
// change or replace: one owned by another user, or one in a directory
// that others may write and that is not sticky (in a sticky one, only the
// file's owner or the directory's can). "" if there is none. A path that
// cannot be looked up is returned as untrusted.
func untrustedPath(p string, uid int) string {
	owned := func(fi os.FileInfo) bool {
		st, ok := fi.Sys().(*syscall.Stat_t)
		return ok && (st.Uid == 0 || int(st.Uid) == uid)
	}
	cur := "/"
	rest := strings.Split(p, "/")
	for hops := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // cur holds no symlink
			continue
		}
		next := filepath.Join(cur, name)
		dir, err := os.Stat(cur)
		if err != nil {
			return cur
		}
		fi, err := os.Lstat(next)
		if err != nil || !owned(fi) || !owned(dir) || dir.Mode().Perm()&0o022 != 0 && dir.Mode()&os.ModeSticky == 0 {
			return next
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if hops++; hops > 40 {
				return next
			}
			t, err := os.Readlink(next)
			if err != nil {
				return next
			}
			if filepath.IsAbs(t) {
				cur = "/"
			}
			rest = append(strings.Split(t, "/"), rest...)
			continue
		}
		cur = next
	}
	return ""
}

// sandboxTmpdir returns env with TMPDIR set to /tmp if the TMPDIR it has
// is not a directory the command can write in under fp: mktemp, sort -T
// and whatever else trusts $TMPDIR would fail there (EROFS, or ENOENT for
// a host directory under /tmp that the private /tmp does not have). /tmp is
// always writable in the sandbox: the private tmpfs, or the host's with
// allowWrite "/tmp". A TMPDIR the policy lets the command write is kept.
func (s *Spec) sandboxTmpdir(env []string, fp nsexec.FSPolicy) []string {
	dir := getenv(env, "TMPDIR")
	if dir != "" && s.writableInside(dir, fp) {
		return env
	}
	if !s.writableInside("/tmp", fp) {
		// The host's /tmp is there, read-only, in place of the private one
		// (fence started in /tmp itself; allowRead "/tmp" under
		// defaultDenyRead): mktemp and tempfile failed ("No usable
		// temporary directory"). The sandbox's /dev/shm is a tmpfs of its
		// own (the host's where allowWrite lists it).
		s.logf("/tmp is the host's, read-only: the command gets TMPDIR=/dev/shm")
		return setEnv(env, "TMPDIR=/dev/shm")
	}
	if dir == "" {
		return env
	}
	which := "the sandbox's private /tmp"
	if fp.HostTmp {
		which = "the host's /tmp: allowWrite lists it"
	}
	s.logf("TMPDIR %q is not writable in the sandbox: the command gets TMPDIR=/tmp (%s)", dir, which)
	return setEnv(env, "TMPDIR=/tmp")
}

// writableInside reports whether the command can write in the host path p
// (relative to the working directory) under fp. Masks go on top of every
// bind, and protected paths on top of the writable binds; the writable
// binds go on top of the private /tmp, which has none of the host's names:
// a path in it is there only if a writable bind is, however it resolves on
// the host (/tmp/link -> /srv/cache does not exist inside).
func (s *Spec) writableInside(p string, fp nsexec.FSPolicy) bool {
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.Cwd, p) // where the command starts
	}
	tmp := []string{"/tmp"}
	p = filepath.Clean(p)
	if !fp.HostTmp && p != "/tmp" && underAny(p, tmp) && !underAny(p, fp.Writable) {
		return false
	}
	r, err := s.paths.eval(p)
	if err != nil {
		return false // missing, or unknown: nothing to count on
	}
	switch {
	case underAny(r, fp.Masked), underAny(r, fp.Protected):
		return false
	case underAny(r, fp.Writable):
		return true
	case underAny(r, tmp):
		// /tmp itself is the private tmpfs, unless the working directory
		// is /tmp, shown read-only in its place.
		return r == "/tmp" && !slices.Contains(fp.ReadOnly, "/tmp") || fp.HostTmp
	}
	return false
}

func (s *Spec) defaults() error {
	if s.Config == nil {
		s.Config = config.Default()
	}
	if s.Cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		s.Cwd, s.OwnCwd = wd, true
	}
	if s.Home == "" {
		s.Home = config.HomeDir()
	}
	// The protections are paths under these two, compared with paths the
	// kernel resolved (the guard's, the mounts'): a home or working
	// directory reached through a symlink (/home -> /var/home on Fedora
	// Atomic) must be taken where it leads, or nothing under it would be
	// protected that does not exist yet. If it cannot be resolved, fence
	// does not guess.
	for _, d := range []struct {
		what string
		p    *string
	}{{"working directory", &s.Cwd}, {"home directory", &s.Home}} {
		if !filepath.IsAbs(*d.p) {
			continue
		}
		r, err := s.paths.evalMissing(*d.p, nil)
		if err != nil {
			return fmt.Errorf("resolve the %s %s: %w", d.what, *d.p, err)
		}
		*d.p = r
	}
	if s.OwnCwd {
		// The path, resolved, must still be the directory this process
		// is in (see OwnCwd); PID 1 checks it again through the mounts.
		var here, there syscall.Stat_t
		if err := syscall.Stat(".", &here); err != nil {
			return fmt.Errorf("look at the working directory: %w", err)
		}
		// One this user cannot look up by its path (a directory of mode
		// 000 above it) is PID 1's to report, as it enters it.
		if err := syscall.Stat(s.Cwd, &there); err == nil && (here.Dev != there.Dev || here.Ino != there.Ino) {
			return fmt.Errorf("working directory %s changed while fence started: it is no longer the directory fence was started in (is a directory on the way to it another user's?); run again, or start fence in a directory only you can change", s.Cwd)
		}
	}
	if s.Env == nil {
		s.Env = os.Environ()
	}
	return nil
}
