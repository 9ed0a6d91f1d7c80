A cram test.

  $ echo hello
  hello
  $ printf "a\tb\n"
  a\tb (esc)
  $ false
  [1]

The second part:

  $ for i in 1 2 3; do
  >   echo line $i
  > done
  line \d (re+)
  $ echo $TESTFILE
  basic.t
  $ echo wrong
  right
