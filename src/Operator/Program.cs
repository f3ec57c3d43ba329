Console.Error.WriteLine("ferry: the operator host is not built yet.");
return 2;
