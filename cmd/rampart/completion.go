package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// completionCmd is `rampart completion bash|zsh|fish`: a completion
// script built from the command table and each command's flag set.
func completionCmd(args []string, stdout, stderr io.Writer) int {
	c := mustLookup("completion")
	pos, exit, ok := c.parse(nil, args, stdout, stderr)
	if !ok {
		return exit
	}
	switch pos[0] {
	case "bash":
		writeBash(stdout)
	case "zsh":
		writeZsh(stdout)
	case "fish":
		writeFish(stdout)
	default:
		return c.usageError(stderr, fmt.Sprintf("unknown shell %q", pos[0]))
	}
	return 0
}

// completionFlag is one flag as a completion script offers it.
type completionFlag struct {
	name, usage string
	takesValue  bool
}

// flagsOf lists c's flags, --help included.
func flagsOf(c command) []completionFlag {
	var out []completionFlag
	if c.flagSet != nil {
		c.flagSet().VisitAll(func(f *flag.Flag) {
			_, usage := flag.UnquoteUsage(f)
			b, isBool := f.Value.(interface{ IsBoolFlag() bool })
			out = append(out, completionFlag{f.Name, usage, !(isBool && b.IsBoolFlag())})
		})
	}
	return append(out, completionFlag{"help", "print this command's help", false})
}

// valueFlag is a flag that takes one of a few words.
type valueFlag struct {
	name  string
	words []string
}

// valueFlags lists c's value flags, in its flag set's order.
func valueFlags(c command) []valueFlag {
	var out []valueFlag
	for _, f := range flagsOf(c) {
		if w := c.flagValues[f.name]; len(w) > 0 {
			out = append(out, valueFlag{f.name, w})
		}
	}
	return out
}

// writeValueCase writes, for a command with value flags, a shell case on
// subject (the word before the cursor) that sets values to the words of
// the flag it names, each list as list writes it; nothing otherwise.
func writeValueCase(w io.Writer, c command, indent, subject string, list func(words []string) string) {
	vf := valueFlags(c)
	if len(vf) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%scase %s in\n", indent, subject)
	for _, f := range vf {
		fmt.Fprintf(w, "%s    --%s) values=%s ;;\n", indent, f.name, list(f.words))
	}
	fmt.Fprintf(w, "%sesac", indent)
}

func flagWords(c command) string {
	var words []string
	for _, f := range flagsOf(c) {
		words = append(words, "--"+f.name)
	}
	return strings.Join(words, " ")
}

// writeBash writes a function for bash's complete -F: commands first,
// then a flag's words (after a flag that takes one of a few), flags
// (after a "-") or the command's argument words; anything else falls back
// to file names.
func writeBash(w io.Writer) {
	var names []string
	for _, c := range commandList() {
		names = append(names, c.name)
	}
	fmt.Fprintf(w, `# bash completion for rampart: source <(rampart completion bash)
_rampart() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W %q -- "$cur"))
        return 0
    fi
    local flags="" args="" values="" prev=${COMP_WORDS[COMP_CWORD-1]}
    case ${COMP_WORDS[1]} in
`, strings.Join(names, " "))
	for _, c := range commandList() {
		fmt.Fprintf(w, "        %s) flags=%q; args=%q", c.name, flagWords(c), strings.Join(c.words(), " "))
		writeValueCase(w, c, "            ", "$prev", func(words []string) string { return fmt.Sprintf("%q", strings.Join(words, " ")) })
		fmt.Fprint(w, " ;;\n")
	}
	fmt.Fprint(w, `    esac
    if [[ -n $values ]]; then
        COMPREPLY=($(compgen -W "$values" -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -n $args && $COMP_CWORD -eq 2 ]]; then
        COMPREPLY=($(compgen -W "$args" -- "$cur"))
    fi
    return 0
}
complete -o default -F _rampart rampart
`)
}

// zshQuote is one "name:description" entry for _describe, as a
// single-quoted zsh word.
func zshQuote(name, description string) string {
	s := name + ":" + strings.ReplaceAll(description, ":", `\:`)
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func writeZsh(w io.Writer) {
	fmt.Fprint(w, "#compdef rampart\n# zsh completion for rampart: source <(rampart completion zsh), or save as _rampart in $fpath\n")
	fmt.Fprint(w, "_rampart() {\n  local -a commands flags args values\n  commands=(\n")
	for _, c := range commandList() {
		fmt.Fprintf(w, "    %s\n", zshQuote(c.name, c.summary))
	}
	fmt.Fprint(w, "  )\n  if (( CURRENT == 2 )); then\n    _describe 'command' commands\n    return\n  fi\n  case $words[2] in\n")
	for _, c := range commandList() {
		fmt.Fprintf(w, "    %s)\n      flags=(", c.name)
		for _, f := range flagsOf(c) {
			fmt.Fprint(w, " "+zshQuote("--"+f.name, f.usage))
		}
		fmt.Fprintf(w, " )\n      args=(%s)", strings.Join(c.words(), " "))
		writeValueCase(w, c, "      ", "$words[CURRENT-1]", func(words []string) string { return "(" + strings.Join(words, " ") + ")" })
		fmt.Fprint(w, " ;;\n")
	}
	fmt.Fprint(w, `  esac
  if (( ${#values} > 0 )); then
    compadd -a values
  elif [[ $PREFIX == -* ]]; then
    _describe 'flag' flags
  elif (( CURRENT == 3 && ${#args} > 0 )); then
    compadd -a args
  else
    _files
  fi
}
if [[ "${funcstack[1]}" == "_rampart" ]]; then
  _rampart "$@"
else
  compdef _rampart rampart
fi
`)
}

// fishQuote quotes s as a single-quoted fish word.
func fishQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

func writeFish(w io.Writer) {
	fmt.Fprint(w, "# fish completion for rampart: rampart completion fish | source\ncomplete -c rampart -f\n")
	for _, c := range commandList() {
		fmt.Fprintf(w, "complete -c rampart -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range commandList() {
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, f := range flagsOf(c) {
			value := ""
			if words := c.flagValues[f.name]; len(words) > 0 {
				value = " -x -a " + fishQuote(strings.Join(words, " "))
			} else if f.takesValue {
				value = " -r -F"
			}
			fmt.Fprintf(w, "complete -c rampart -n %s -l %s%s -d %s\n", cond, f.name, value, fishQuote(f.usage))
		}
		if words := c.words(); len(words) > 0 {
			fmt.Fprintf(w, "complete -c rampart -n %s -a %s\n", cond, fishQuote(strings.Join(words, " ")))
		} else if c.args != 0 {
			fmt.Fprintf(w, "complete -c rampart -n %s -F\n", cond)
		}
	}
}
