package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoFunctionOver80Lines holds the house rule that a function fits on a
// screen: every function of the module's code (tests aside) is at most 80
// lines from its signature to its closing brace.
func TestNoFunctionOver80Lines(t *testing.T) {
	const max = 80
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > max {
				t.Errorf("%s: %s is %d lines (at most %d)", fset.Position(fn.Pos()), fn.Name.Name, n, max)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
