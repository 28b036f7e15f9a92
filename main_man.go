package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd builds the hidden `socktop man [DIR]`: the manual pages,
// generated from the same command tree as --help. Without DIR it prints
// socktop(1) on stdout; with DIR it writes a page per command there.
func newManCmd(root *cobra.Command, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    "man [DIR]",
		Short:  "write the manual pages",
		Hidden: true,
		Args:   usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			header := &doc.GenManHeader{Title: "SOCKTOP", Section: "1", Source: "socktop " + version}
			// The man generator reads Long and the flags, not the help
			// template: give it the "more" text too.
			root.DisableAutoGenTag = true
			withMore(root)
			var err error
			if len(args) == 1 {
				if err = os.MkdirAll(args[0], 0o755); err == nil {
					err = doc.GenManTree(root, header, args[0])
				}
			} else {
				err = doc.GenMan(root, header, stdout)
			}
			if err != nil {
				return &runError{err}
			}
			return nil
		},
	}
}

// withMore appends each command's "more" annotation to its Long.
func withMore(c *cobra.Command) {
	if more := c.Annotations["more"]; more != "" {
		c.Long = strings.TrimSpace(c.Long + "\n\n" + more)
	}
	for _, sub := range c.Commands() {
		withMore(sub)
	}
}
