// Package output holds socktop's headless forms: the --once table, the -s
// summary and the JSON document, and the column model the live table
// shares with the --once table, so a cell says the same in both.
package output
