// SPDX-License-Identifier: GPL-2.0-only
/// Find device references that a lookup returns and nothing drops.
///
/// of_find_device_by_node(), bus_find_device*(), driver_find_device*(),
/// class_find_device*(), device_find_child*(), get_device() and the
/// platform, i2c and spi wrappers of these return a device with a reference
/// held for the caller, also when the caller only wants its driver data.
/// Report a return that the reference reaches without a put, a reference
/// stored in a structure field that no put in the file drops, and a lookup
/// whose result is not kept.
///
// Confidence: Moderate
// URL: https://coccinelle.gitlabpages.inria.fr/website
// Comments: Not reported: the branch of a NULL test of the result (also
//  the else branch of a test that it is not NULL, when the other branch
//  returns it or puts it); a reference returned (also through a to_*() or
//  *_get() helper or container_of()), stored (in a field or another
//  variable), declared __free(), handed to
//  devm_add_action*(), or stored in a field that a put or a KUnit action
//  named *put* drops; a lookup after a comment saying who is responsible
//  for its put_device(); the return of a <stem>_get*() function handing
//  out what it found, in a file with a <stem>_put*() or <stem>_release*()
//  function that drops a reference.
//  Limits: one file at a time, and nothing learnt from one file decides a
//  report in another; a field counts as dropped when a put in the file
//  drops a field of that name; a put through a local alias or through a
//  helper that takes a void pointer is not seen, nor a KUnit action on a
//  local; a positive test whose branch puts the reference hides a return
//  before the put in that branch; a NULL test is any condition that
//  contains one (!pdev || ...).
// Options: --no-includes --include-headers

virtual report
virtual org
virtual context

@initialize:python@
@@
import re

# The lookups, which return a device with a reference held for the caller.
LOOKUP = re.compile(r"^(of_find_device_by_node|bus_find_device(_by_[a-z_]+)?|"
		    r"bus_find_next_device|driver_find_device(_by_[a-z_]+)?|"
		    r"driver_find_next_device|class_find_device(_by_[a-z_]+)?|"
		    r"device_find_child(_by_[a-z_]+)?|device_find_any_child|get_device|"
		    r"platform_find_device_by_driver|of_find_i2c_device_by_node|"
		    r"of_find_i2c_adapter_by_node|of_get_i2c_adapter_by_node|"
		    r"i2c_find_device_by_fwnode|i2c_find_adapter_by_fwnode|"
		    r"i2c_get_adapter_by_fwnode|of_find_spi_device_by_node|"
		    r"spi_find_device_by_fwnode|acpi_spi_find_device_by_adev)$")
# The puts that drop such a reference, besides put_device().
WRAPPER_PUT = re.compile(r"^(platform_device_put|of_dev_put|spi_dev_put|i2c_put_adapter)$")

def lookup(f):
	return LOOKUP.match(f) is not None

def wrapper_put(f):
	return WRAPPER_PUT.match(f) is not None

# (file, field): a put in the file drops a field of that name.
dropped = set()
# (file, stem): a function named <stem>_put* or <stem>_release* in the
# file drops a reference, so <stem>_get*() hands its reference out (a
# devm_ or of_ prefix aside).  Facts
# about one file never decide a report in another, whatever the order of
# the files or --jobs.
put_stems = set()
# (lookup, return): the return of a paired getter that hands the
# reference out.
handed = set()

def stem(fn):
	"""devm_of_foo_put(), of_foo_get_by_node(): foo."""
	fn = re.sub(r"^(devm_)?(of_)?", "", fn)
	return re.split(r"_(?:get|put|release)(?:_|$)", fn, maxsplit=1)[0]
# Lookups that are not leaks, by position.
fine = set()
reported = set()

def pos(p):
	return (p.file, p.line, p.column)

def keep(key):
	"""Report each (lookup, site) once."""
	if key in reported:
		return False
	reported.add(key)
	return True

// The fields that a put in this file drops: put_device(E->fld),
// put_device(E->fld[i]), put_device(&E->fld->dev), a KUnit action named
// *put* on the field (KUNIT_DEFINE_ACTION_WRAPPER(w, put_device, ...)),
// and the same through a local loaded from the field.
@drop@
expression E, E1, E2;
identifier fld;
identifier put : script:python() { wrapper_put(put) };
identifier kunit =~ "^kunit_add_action(_or_reset)?$";
identifier action =~ "put";
position p;
@@
(
 kunit@p(E1, action, E->fld)
|
 kunit@p(E1, action, E.fld)
|
 put_device@p(E->fld)
|
 put_device@p(E.fld)
|
 put_device@p(E->fld[E2])
|
 put_device@p(&E->fld->dev)
|
 put_device@p(&E.fld->dev)
|
 put_device@p(&E->fld[E2]->dev)
|
 put@p(E->fld)
|
 put@p(E.fld)
|
 put@p(E->fld[E2])
)

@script:python@
fld << drop.fld;
p << drop.p;
@@
dropped.add((p[0].file, fld))

@dropalias exists@
expression E, E2;
identifier x, fld;
identifier put : script:python() { put == "put_device" or wrapper_put(put) };
type T;
position p;
@@
(
 x = \(E->fld\|E.fld\|E->fld[E2]\);
|
 T x = \(E->fld\|E.fld\|E->fld[E2]\);
)
... when any
\(put@p(x)\|put_device@p(&x->dev)\)

@script:python@
fld << dropalias.fld;
p << dropalias.p;
@@
dropped.add((p[0].file, fld))

@putter@
identifier fn =~ "_(put|release)(_|$)";
identifier put : script:python() { put == "put_device" or wrapper_put(put) };
position p;
@@
fn@p(...)
{
<+...
put(...)
...+>
}

@script:python@
p << putter.p;
fn << putter.fn;
@@
put_stems.add((p[0].file, stem(fn)))

// A comment before the lookup that says who is responsible for the put:
// "/* The CMDQV driver is responsible for put_device() */".
@annotated@
comments c;
identifier f : script:python() { lookup(f) };
expression E;
type T;
identifier id;
position p;
@@
(
 E@c = f@p(...);
|
 T id@c = f@p(...);
)

@script:python@
c << annotated.c;
p << annotated.p;
@@
import re
if re.search(r"responsible for\s+(the\s+)?put_device|put_device\(\)\s+(is\s+)?(done|called)\s+(in|by)\b",
	     c[0].before):
	fine.add(pos(p[0]))

// A variable declared __free() is dropped when it goes out of scope.
@freed@
identifier id, f;
type T;
position p;
attribute name __free;
@@
(
 T id __free(...) = f@p(...);
|
 T id __free(...) = NULL;
 ...
 id = f@p(...)
)

@script:python@
p << freed.p;
@@
fine.add(pos(p[0]))

// A put left to devres: devm_add_action*() with the reference, the device
// or its driver data.
@devm exists@
identifier id;
identifier f : script:python() { lookup(f) };
expression E, E1, E2;
type T;
position p;
@@
(
 id = f@p(...);
|
 T id = f@p(...);
|
 E = f@p(...);
)
... when any
\(devm_add_action\|devm_add_action_or_reset\)(E1, E2, \(id\|&id->dev\|E\|&E->dev\))

@script:python@
p << devm.p;
@@
fine.add(pos(p[0]))

@devm_data exists@
identifier id, x;
identifier f : script:python() { lookup(f) };
expression E1, E2;
type T;
position p;
@@
(
 id = f@p(...);
|
 T id = f@p(...);
)
... when any
x = \(platform_get_drvdata(id)\|dev_get_drvdata(&id->dev)\|dev_get_drvdata(id)\);
... when any
\(devm_add_action\|devm_add_action_or_reset\)(E1, E2, x)

@script:python@
p << devm_data.p;
@@
fine.add(pos(p[0]))

// The return of a <stem>_get*() function that hands out a pointer it
// found through the device, from a file with a <stem>_put*() or
// <stem>_release*() function that drops a reference:
// tegra_xusb_padctl_get()/_put(), mtk_ecc_get()/mtk_ecc_release();
// and a *find*() function returning the device converted (the caller
// drops it, as for the lookups themselves): i2c_find_device_by_fwnode().
@getter exists@
identifier fn =~ "_get";
identifier x !~ "^NULL$";
identifier id;
identifier f : script:python() { lookup(f) };
type T, T2;
position p1, p2;
@@
T2 *fn(...)
{
...
(
 id = f@p1(...);
|
 T id = f@p1(...);
)
...
return@p2 x;
}

@script:python@
p1 << getter.p1;
p2 << getter.p2;
fn << getter.fn;
@@
if (p1[0].file, stem(fn)) in put_stems:
	handed.add((pos(p1[0]), pos(p2[0])))

@finder exists@
identifier fn =~ "find";
identifier id, x;
identifier conv !~ "^(platform_get_drvdata|dev_get_drvdata|i2c_get_clientdata|spi_get_drvdata|dev_get_regmap)$";
identifier f : script:python() { lookup(f) };
type T, T2;
position p1;
@@
T2 *fn(...)
{
...
(
 id = f@p1(...);
|
 T id = f@p1(...);
)
...
x = \(conv(id)\|conv(&id->dev)\);
...
return x;
}

@script:python@
p1 << finder.p1;
@@
fine.add(pos(p1[0]))

// A reference that reaches a return.  The NULL test of the result is
// matched as a whole, so that its branch is not a path.
@leak exists@
identifier id;
identifier g =~ "(^to_|_to_|_get$)";
identifier f : script:python() { lookup(f) };
identifier put : script:python() { wrapper_put(put) };
expression E, E1, E3;
statement S, S2;
type T, T1;
position p1, p2;
@@
(
 id = f@p1(...);
|
 T id = f@p1(...);
)
... when != put_device(id)
    when != put_device(&id->dev)
    when != put(id)
    when != if (<+... \(!id\|id == NULL\|IS_ERR_OR_NULL(id)\|IS_ERR(id)\) ...+>) S
    when != if (\(id\|id != NULL\)) return ...;
    when != if (\(id\|id != NULL\)) return \(id\|&id->dev\|(T1)id\|g(id)\|g(&id->dev)\|container_of(id, ...)\); else S2
    when != if (\(id\|id != NULL\)) { ... return ...; }
    when != if (\(id\|id != NULL\)) { ... return \(id\|&id->dev\|(T1)id\|g(id)\|g(&id->dev)\|container_of(id, ...)\); } else S2
    when != if (\(id\|id != NULL\)) { <+... \(put_device(id)\|put_device(&id->dev)\|put(id)\|g(id)\|g(&id->dev)\|E3 = id\|E3 = &id->dev\) ...+> }
    when != if (\(id\|id != NULL\)) { <+... \(put_device(id)\|put_device(&id->dev)\|put(id)\) ...+> } else S2
    when != E3 = id
    when != E3 = &id->dev
    when != E3 = (T1)id
    when != \(g(id)\|g(&id->dev)\|container_of(id, ...)\)
    when != id = E3
    when != no_free_ptr(id)
    when != return_ptr(id)
(
 if (<+... \(!id\|id == NULL\|IS_ERR_OR_NULL(id)\|IS_ERR(id)\) ...+>) S
 ... when != put_device(id)
     when != put_device(&id->dev)
     when != put(id)
     when != if (\(id\|id != NULL\)) { <+... \(put_device(id)\|put_device(&id->dev)\|put(id)\|g(id)\|g(&id->dev)\|E3 = id\|E3 = &id->dev\) ...+> }
     when != if (\(id\|id != NULL\)) { <+... \(put_device(id)\|put_device(&id->dev)\|put(id)\) ...+> } else S2
     when != E3 = id
     when != E3 = &id->dev
     when != E3 = (T1)id
     when != \(g(id)\|g(&id->dev)\|container_of(id, ...)\)
     when != id = E3
     when != no_free_ptr(id)
     when != return_ptr(id)
(
 return \(id\|&id->dev\|(T1)id\|container_of(id, ...)\);
|
 return E ? \(id\|&id->dev\|(T1)id\|container_of(id, ...)\) : E1;
|
 return E ? E1 : \(id\|&id->dev\|(T1)id\|container_of(id, ...)\);
|
 return \(g(id)\|g(&id->dev)\|g(id, ...)\);
|
 return E ? \(g(id)\|g(&id->dev)\|container_of(id, ...)\) : E1;
|
 return@p2 ...;
)
|
(
 return \(id\|&id->dev\|(T1)id\|container_of(id, ...)\);
|
 return E ? \(id\|&id->dev\|(T1)id\|container_of(id, ...)\) : E1;
|
 return E ? E1 : \(id\|&id->dev\|(T1)id\|container_of(id, ...)\);
|
 return \(g(id)\|g(&id->dev)\|g(id, ...)\);
|
 return E ? \(g(id)\|g(&id->dev)\|container_of(id, ...)\) : E1;
|
 return@p2 ...;
)
)

@script:python@
p1 << leak.p1;
p2 << leak.p2;
@@
if (pos(p1[0]) in fine or (pos(p1[0]), pos(p2[0])) in handed or
    not keep((pos(p1[0]), pos(p2[0])))):
	cocci.include_match(False)

@script:python depends on report@
p1 << leak.p1;
p2 << leak.p2;
f << leak.f;
@@
coccilib.report.print_report(p1[0],
	"WARNING: %s(): the reference from %s() on line %s is not dropped on the return on line %s"
	% (p1[0].current_element, f, p1[0].line, p2[0].line))

@script:python depends on org@
p1 << leak.p1;
p2 << leak.p2;
f << leak.f;
@@
cocci.print_main("%s(): reference from %s()" % (p1[0].current_element, f), p1)
cocci.print_secs("return without put_device()", p2)

@depends on context@
identifier leak.f;
position leak.p1;
@@
* f@p1(...)

@depends on context@
position leak.p2;
@@
* return@p2 ...;

// A reference stored in a field that no put in this file drops.
@store exists@
identifier id;
identifier f : script:python() { lookup(f) };
identifier put : script:python() { wrapper_put(put) };
expression E, E2, E3;
identifier fld;
type T, T1;
position p1, p2;
@@
(
(
 id = f@p1(...);
|
 T id = f@p1(...);
)
... when != put_device(id)
    when != put_device(&id->dev)
    when != put(id)
    when != id = E3
(
 E->fld@p2 = \(id\|&id->dev\|(T1)id\)
|
 E.fld@p2 = \(id\|&id->dev\|(T1)id\)
|
 E->fld[E2]@p2 = \(id\|&id->dev\|(T1)id\)
)
... when != put_device(id)
    when != put_device(&id->dev)
    when != put(id)
return ...;
|
 E->fld@p2 = f@p1(...)
|
 E.fld@p2 = f@p1(...)
|
 E->fld[E2]@p2 = f@p1(...)
|
 E->fld@p2 = &f@p1(...)->dev
|
 E.fld@p2 = &f@p1(...)->dev
)

@script:python@
p1 << store.p1;
p2 << store.p2;
fld << store.fld;
@@
if ((p1[0].file, fld) in dropped or pos(p1[0]) in fine or
    not keep((pos(p1[0]), pos(p2[0])))):
	cocci.include_match(False)

@script:python depends on report@
p1 << store.p1;
p2 << store.p2;
f << store.f;
fld << store.fld;
@@
coccilib.report.print_report(p1[0],
	"WARNING: %s(): the reference from %s() on line %s is stored in ->%s on line %s, which no put in this file drops"
	% (p1[0].current_element, f, p1[0].line, fld, p2[0].line))

@script:python depends on org@
p1 << store.p1;
p2 << store.p2;
f << store.f;
fld << store.fld;
@@
cocci.print_main("%s(): reference from %s()" % (p1[0].current_element, f), p1)
cocci.print_secs("stored in ->%s, which no put in this file drops" % fld, p2)

@depends on context@
identifier store.f;
position store.p1;
@@
* f@p1(...)

@depends on context@
position store.p2;
expression E;
@@
* E@p2

// A reference nobody can drop: the result is discarded, only tested, or
// only used to read the driver data.  get_device(dev) on a device the
// caller holds is not a lookup.
@unkept@
identifier f : script:python() { lookup(f) and f != "get_device" };
position p;
statement S1, S2;
@@
(
 f@p(...);
|
 if (f@p(...)) S1 else S2
|
 if (f@p(...)) S1
|
 if (!f@p(...)) S1 else S2
|
 if (!f@p(...)) S1
|
 \(platform_get_drvdata\|dev_get_drvdata\)(f@p(...))
|
 \(platform_get_drvdata\|dev_get_drvdata\)(&f@p(...)->dev)
)

@script:python@
p << unkept.p;
@@
if not keep(pos(p[0])):
	cocci.include_match(False)

@script:python depends on report@
f << unkept.f;
p << unkept.p;
@@
coccilib.report.print_report(p[0],
	"WARNING: %s(): the reference from %s() on line %s is not kept, so it cannot be dropped"
	% (p[0].current_element, f, p[0].line))

@script:python depends on org@
f << unkept.f;
p << unkept.p;
@@
cocci.print_main("%s(): reference from %s() not kept" % (p[0].current_element, f), p)

@depends on context@
identifier unkept.f;
position unkept.p;
@@
* f@p(...)
