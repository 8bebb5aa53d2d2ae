package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// Limits of the house rule that interfaces stay small and a type has one
// kind of user: an interface has at most maxInterfaceMethods methods, and
// a concrete type outside the SQL stores at most maxExportedMethods
// exported methods, promoted ones included.
const (
	maxInterfaceMethods = 20
	maxExportedMethods  = 30
	// sqlStores implements the whole store and is held to no count.
	sqlStores = "github.com/opengateway/gateway/core/sqlstore"
)

// listedPackage is what go list says of a package.
type listedPackage struct {
	ImportPath string
	Dir        string
	Export     string
	GoFiles    []string
	Standard   bool
	Module     *struct{ Main bool }
}

// TestSmallInterfacesAndTypes type-checks every package of the module (tests
// aside) and fails for each interface with more than 20 methods and each
// concrete type outside core/sqlstore with more than 30 exported methods
// (the method set of *T, promoted methods included).
func TestSmallInterfacesAndTypes(t *testing.T) {
	pkgs, exports := listModule(t)
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if f, ok := exports[path]; ok && f != "" {
			return os.Open(f)
		}
		return nil, errors.New("no export data for " + path)
	})
	for _, p := range pkgs {
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		conf := types.Config{Importer: imp}
		tp, err := conf.Check(p.ImportPath, fset, files, nil)
		if err != nil {
			t.Fatalf("%s: %v", p.ImportPath, err)
		}
		for _, problem := range oversized(tp) {
			t.Error(problem)
		}
	}
}

// oversized names the package's interfaces and types over the limits.
func oversized(p *types.Package) []string {
	var out []string
	for _, name := range p.Scope().Names() {
		tn, ok := p.Scope().Lookup(name).(*types.TypeName)
		if !ok || tn.IsAlias() {
			continue
		}
		if it, ok := tn.Type().Underlying().(*types.Interface); ok {
			if n := it.NumMethods(); n > maxInterfaceMethods {
				out = append(out, p.Path()+"."+name+": an interface of "+strconv.Itoa(n)+" methods (at most 20)")
			}
			continue
		}
		if p.Path() == sqlStores {
			continue
		}
		ms := types.NewMethodSet(types.NewPointer(tn.Type()))
		n := 0
		for i := range ms.Len() {
			if ms.At(i).Obj().Exported() {
				n++
			}
		}
		if n > maxExportedMethods {
			out = append(out, p.Path()+"."+name+": "+strconv.Itoa(n)+" exported methods (at most 30)")
		}
	}
	sort.Strings(out)
	return out
}

// listModule returns the module's packages and the export data of every
// package they import (go list -export builds them, from the cache).
func listModule(t *testing.T) ([]listedPackage, map[string]string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-json", "./...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []listedPackage
	exports := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Main && len(p.GoFiles) > 0 {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, exports
}
