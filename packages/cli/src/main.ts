console.log("troupe: not built yet")
